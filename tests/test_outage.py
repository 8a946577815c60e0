"""An unreachable broker at start is a clear failure; an outage while running is one story
in the log (begins, a summary at most every 30 s, ends), not a line per failed call."""

from __future__ import annotations

import logging
import time

import anyio
import pytest

from queue_core import BrokerUnavailable, Manager, Worker
from queue_core.errors import BrokerUnavailable as Unreachable
from queue_core.outage import Outage
from queue_core.scheduling.scheduler import Scheduler
from tests.cli_kit import invoke
from tests.redis_server import RedisServer, free_port
from tests.worker_kit import PATIENCE


def nowhere() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


async def test_a_worker_waits_for_its_broker_then_gives_up_before_reporting_started(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before: it logged "started", then about 5 warnings a second, forever."""
    caplog.set_level(logging.DEBUG, logger="queue_core")
    worker = Worker(nowhere(), connect_timeout=0.5)
    started = time.monotonic()
    with anyio.fail_after(PATIENCE), pytest.raises(BrokerUnavailable, match=r"within 0\.5s"):
        await worker.run()
    assert time.monotonic() - started >= 0.5
    assert not [r for r in caplog.records if "started" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_scheduler_waits_for_its_broker_then_gives_up_before_reporting_started() -> None:
    scheduler = Scheduler(nowhere(), connect_timeout=0.3)
    with anyio.fail_after(PATIENCE), pytest.raises(BrokerUnavailable, match=r"within 0\.3s"):
        await scheduler.run()


async def test_a_worker_starts_once_its_broker_comes_up_within_the_timeout() -> None:
    with RedisServer() as server:
        url = server.url
        server.stop()
        worker = Worker(url, connect_timeout=PATIENCE)
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await anyio.sleep(0.5)  # still waiting for the broker
            await anyio.to_thread.run_sync(server.start)
            with anyio.fail_after(PATIENCE):
                while not (await _heartbeats(url)):
                    await anyio.sleep(0.05)
            worker.stop()


async def _heartbeats(url: str) -> int:
    async with Manager(url) as manager:
        return len(await manager.list_workers())


def test_the_worker_command_exits_2_with_one_line_when_the_broker_never_answers() -> None:
    result = invoke(nowhere(), "worker", "tests.cli_kit:create_worker", "--connect-timeout", "0.5")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not reach the broker within 0.5s" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_an_outage_is_reported_when_it_begins_every_30s_and_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    outage = Outage(logging.getLogger("queue_core.test_outage"), "worker w1", monotonic=lambda: now[0])
    caplog.set_level(logging.DEBUG, logger="queue_core.test_outage")
    outage.recovered()  # no outage: nothing to say
    for step in range(650):  # 65 s of failed calls, ten a second, from several loops
        now[0] = step / 10
        outage.failed(("dequeue", "heartbeat", "forwarder")[step % 3], Unreachable("connection refused"))
    now[0] = 70.0
    outage.recovered()
    outage.recovered()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4, messages
    assert "is unreachable (dequeue: connection refused)" in messages[0]
    assert "still unreachable after 30s" in messages[1] and "still unreachable after 60s" in messages[2]
    assert "answers again after 70.0s (650 failed calls)" in messages[3]


async def test_a_running_worker_reports_an_outage_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    """Before: every loop logged every failed call (about 5 warnings a second)."""
    caplog.set_level(logging.INFO, logger="queue_core")
    with RedisServer() as server:
        worker = Worker(server.url, heartbeat_interval=0.2, sweep_interval=0.2)
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            with anyio.fail_after(PATIENCE):
                while not [r for r in caplog.records if "started" in r.getMessage()]:
                    await anyio.sleep(0.02)
            await anyio.to_thread.run_sync(server.kill)
            await anyio.sleep(3)
            await anyio.to_thread.run_sync(server.start)
            with anyio.fail_after(PATIENCE):
                while not [r for r in caplog.records if "answers again" in r.getMessage()]:
                    await anyio.sleep(0.05)
            worker.stop()
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([m for m in loud if "is unreachable" in m]) == 1, loud
    assert len([m for m in loud if "answers again" in m]) == 1, loud
    assert len(loud) == 2, loud
