"""``queue-core dashboard`` (a real process serving a real Redis) and ``queue-core stats
--history``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import anyio
import httpx
import pytest

from queue_core import HISTOGRAM_SLOTS, Client, MinuteMetrics, minute_of, open_broker
from tests.cli_kit import invoke
from tests.redis_server import free_port, ping

PATIENCE = 30.0


@pytest.mark.redis
def test_the_command_serves_the_dashboard_for_a_redis_url(redis_url: str) -> None:
    url = f"{redis_url}?prefix=dash{os.getpid()}"

    async def seed() -> None:
        broker = await open_broker(url)
        try:
            async with Client(broker) as client:
                await client.enqueue("email.send", {"to": "a@example.com"}, queue="mail")
        finally:
            await broker.close()

    anyio.run(seed)
    port = free_port()
    env = {**os.environ, "QUEUE_CORE_DASHBOARD_AUTH": "ops:pa55"}
    process = subprocess.Popen(
        [sys.executable, "-m", "queue_core", "dashboard", "--url", url, "--port", str(port), "--prefix", "/q",
         "--read-only"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + PATIENCE
        while not ping(port) and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/q/").status_code == 401
        page = httpx.get(f"{base}/q/", auth=("ops", "pa55"))
        assert page.status_code == 200 and 'data-queue="mail"' in page.text and "read-only" in page.text
        assert httpx.get(f"{base}/q/queues/mail", auth=("ops", "pa55")).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=PATIENCE)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        stderr = process.stderr.read() if process.stderr else ""
        if process.stderr:
            process.stderr.close()
    assert process.returncode == 0, stderr
    assert f"127.0.0.1:{port}/q/" in stderr


def test_bad_options_are_refused_before_anything_starts() -> None:
    assert invoke("memory://", "dashboard", "--prefix", "no-slash").exit_code == 2
    assert invoke("memory://", "dashboard", "--prefix", "/a/../b").exit_code == 2
    bad_auth = invoke("memory://", "dashboard", "--auth", "justuser")
    assert bad_auth.exit_code == 2 and "USER:PASSWORD" in bad_auth.output


def test_stats_history_shows_per_minute_counts_and_run_times() -> None:
    url = f"memory://history{os.getpid()}"
    now = time.time()

    async def seed() -> None:
        broker = await open_broker(url)
        try:
            slots = tuple(4 if slot == 2 else 0 for slot in range(HISTOGRAM_SLOTS))
            await broker.record_metrics(
                [MinuteMetrics("mail", "email.send", minute_of(now) - 60, 4, 1, 200_000, slots)], now, 3600
            )
            async with Client(broker) as client:  # the queue is known once something was enqueued
                await client.enqueue("email.send", None, queue="mail")
        finally:
            await broker.close()

    anyio.run(seed)
    shown = invoke(url, "stats", "--history", "--minutes", "5", "--step", "1")
    assert shown.exit_code == 0, shown.output
    assert "email.send" in shown.output and "every queue, every type: per 1m" in shown.output
    data = json.loads(invoke(url, "stats", "--history", "--minutes", "5", "--json").output)
    assert data["total"]["processed"] == 4 and data["total"]["failed"] == 1
    assert [point["processed"] for point in data["points"]] == [0, 0, 0, 4, 0]
    assert invoke(url, "stats", "--history", "--minutes", "5000").exit_code == 2
