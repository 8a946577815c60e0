"""Commands that show live processes: workers, top, cron, server; and the demo.

A Worker or Scheduler runs on a thread of its own in this process (so ``memory://``
is shared) while the test invokes commands, against ``memory://`` and Redis.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from queue_core import Scheduler, Worker
from tests.cli_kit import create_scheduler, create_worker, in_background, invoke, wait_for, with_prefix


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def url(request: pytest.FixtureRequest) -> str:
    tag = secrets.token_hex(4)
    if request.param == "memory":
        return f"memory://live{tag}"
    redis_url: str = request.getfixturevalue("redis_url")
    return with_prefix(redis_url, f"live{tag}")


def as_json(url: str, *args: str) -> Any:
    result = invoke(url, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def busy_worker(url: str) -> Worker:
    worker = create_worker(url, concurrency=3, queues={"default": 2, "low": 1}, shutdown_timeout=0.1)
    assert invoke(url, "enqueue", "sleep", "null", "--id", "forever").exit_code == 0
    return worker


def test_workers_and_top_with_no_worker(url: str) -> None:
    assert invoke(url, "workers").stdout == "no live workers\n"
    assert as_json(url, "workers") == []
    top = invoke(url, "top", "--once")
    assert top.exit_code == 0
    assert "0 queue(s)  0 worker(s)  0 job(s) running" in top.stdout


def test_workers_lists_live_workers_and_shows_one(url: str) -> None:
    worker = busy_worker(url)
    with in_background(worker.run, worker.stop):
        wait_for(lambda: any(w["active_jobs"] for w in as_json(url, "workers")), "the worker's heartbeat")
        [live] = as_json(url, "workers")
        assert live["id"] == worker.id and live["concurrency"] == 3
        assert live["queues"] == {"default": 2, "low": 1}
        assert [job["job_id"] for job in live["active_jobs"]] == ["forever"]
        table = invoke(url, "workers").stdout
        assert worker.id in table and "1/3" in table and "default=2, low=1" in table
        one = invoke(url, "workers", worker.id)
        assert one.exit_code == 0 and "running jobs" in one.stdout and "forever" in one.stdout
        assert as_json(url, "workers", worker.id)["id"] == worker.id
        [active] = as_json(url, "job", "ls", "-s", "active")
        assert active["worker_id"] == worker.id and active["orphaned"] is False
    unknown = invoke(url, "workers", "no-such-worker")
    assert unknown.exit_code == 1 and "queue-core workers" in unknown.stderr


def test_top_shows_queues_rates_workers_and_running_jobs(url: str) -> None:
    worker = busy_worker(url)
    with in_background(worker.run, worker.stop):
        wait_for(lambda: any(w["active_jobs"] for w in as_json(url, "workers")), "the worker's heartbeat")
        result = invoke(url, "top", "--iterations", "2", "--interval", "0.05")
    assert result.exit_code == 0, result.output
    frames = result.stdout.split("queue-core top")[1:]
    assert len(frames) == 2
    first, second = frames
    assert "1 worker(s)  1 job(s) running" in first
    for title in ("queues", "workers", "running jobs"):
        assert title in first
    assert worker.id in first and "forever" in first and "sleep" in first
    row = next(line for line in second.splitlines() if line.startswith("default"))
    assert row.split()[1:3] == ["0", "1"]  # pending, active
    assert "0.0" in row.split()  # processed/s, from the first frame to the second
    first_row = next(line for line in first.splitlines() if line.startswith("default"))
    assert first_row.split()[8:10] == ["-", "-"]  # no rate before a second frame


def test_cron_ls_and_history(url: str) -> None:
    assert "no scheduler is running" in invoke(url, "cron", "ls").stdout
    assert "has not fired yet" in invoke(url, "cron", "history", "every-second").stdout
    scheduler: Scheduler = create_scheduler(url)
    with in_background(scheduler.run, scheduler.stop):
        wait_for(lambda: bool(as_json(url, "cron", "history", "every-second")), "a fire")
        [entry] = as_json(url, "cron", "ls")
        assert entry["schedule_id"] == "every-second" and entry["job_type"] == "tick"
        assert entry["queue"] == "ticks" and entry["scheduler_id"] == scheduler.id
        assert "every-second" in invoke(url, "cron", "ls").stdout
        [fire, *_] = as_json(url, "cron", "history", "every-second", "--limit", "1")
        assert fire["job_id"].startswith("every-second:") and fire["error"] is None
        assert fire["job_id"] in invoke(url, "cron", "history", "every-second").stdout
    bad = invoke(url, "cron", "history", "bad id!")
    assert bad.exit_code == 2


def test_server(url: str) -> None:
    info = as_json(url, "server")
    table = invoke(url, "server").stdout
    if url.startswith("memory"):
        assert (info["driver"], info["backend"]) == ("memory", "fakeredis") and "fakeredis" in table
    else:
        assert (info["driver"], info["backend"]) == ("redis", "redis") and info["version"] in table
        assert "eviction policy" in table and info["details"]["role"] in table


def test_demo() -> None:
    result = invoke("memory://", "demo", "--jobs", "20", "--url", f"memory://demo{secrets.token_hex(3)}")
    assert result.exit_code == 0, result.output
    assert "enqueued 20 jobs" in result.stdout and "processed (total)" in result.stdout
