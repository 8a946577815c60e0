"""``queue-core worker`` and ``queue-core scheduler``.

APPs that cannot be used are refused in this process (click's runner). The rest runs real
processes (``python -m queue_core ...``) on the session's Redis, each test under a key
prefix of its own, and watches them through a Manager: SIGTERM stops a worker gracefully,
``--processes 2`` restarts a SIGKILLed child and stops its children when told to (or when
it dies), a scheduler fires and stops. Tests wait for states, never for durations.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import pytest
from anyio.streams.text import TextReceiveStream

from queue_core import Client, JobState, Manager, Worker
from queue_core.cli.worker import queue_option
from tests import cli_kit
from tests.cli_kit import invoke, with_prefix

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.cli_kit:create_worker"
PATIENCE = 30.0


# --------------------------------------------------------------------------- APPs refused


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["no_such_module:worker"], "cannot import 'no_such_module'"),
        (["tests.cli_kit:nothing_here"], "module 'tests.cli_kit' has no attribute 'nothing_here'"),
        (["tests.cli_kit"], "is not module:attribute"),
        (["tests.cli_kit:not_a_worker"], "tests.cli_kit:not_a_worker is a int, not a Worker"),
        (["tests.cli_kit:create_scheduler"], "returned a Scheduler, not a Worker"),
        (["tests.cli_kit:worker", "-c", "5"], "is a Worker built with its own options, so --concurrency cannot"),
        (["tests.cli_kit:create_worker_without_options", "-q", "low"], "does not take --queue"),
        ([APP, "-q", "bad{name}"], "invalid queues"),
        ([APP, "-q", "low=x"], "the weight after '=' must be an integer"),
        ([APP, "-q", "low", "-q", "low=2"], "--queue low given more than once"),
        ([APP, "-q", "low=0"], "an integer weight >= 1"),
        ([APP, "--with-scheduler", ":create_worker"], "returned a Worker, not a Scheduler"),
        ([APP, "--url", "nowhere"], "invalid url"),
    ],
)
def test_an_app_that_cannot_run_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    result = invoke(None, "worker", *args)
    assert result.exit_code == 2, result.output
    [error] = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert says in error
    assert "Traceback" not in result.stderr


def test_an_app_that_raises_on_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "brokenapp.py").write_text("raise RuntimeError('missing setting SMTP_HOST')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = invoke("memory://", "worker", "brokenapp:worker")
    assert result.exit_code == 2
    assert "importing 'brokenapp' raised RuntimeError: missing setting SMTP_HOST" in result.stderr
    assert "Traceback" not in result.stderr
    debug = invoke("memory://", "worker", "brokenapp:worker", "--debug")
    assert "Traceback" in debug.stderr and debug.exit_code == 2


def test_the_scheduler_command_refuses_a_bad_app() -> None:
    result = invoke("memory://", "scheduler", "tests.cli_kit:not_a_worker")
    assert result.exit_code == 2
    assert "not a Scheduler or a function returning one" in result.stderr


def test_a_url_from_the_environment_is_not_forced_on_a_ready_made_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    # --url is refused for a ready-made Worker (as --concurrency is), but QUEUE_CORE_URL,
    # often set for a whole deployment, only brings a warning. The worker was asked to
    # stop before it runs, so it returns as soon as it started.
    ready = Worker("memory://")
    ready.stop()
    monkeypatch.setattr(cli_kit, "worker", ready)
    monkeypatch.setattr(logging.getLogger(), "level", logging.getLogger().level)  # the command sets it
    result = invoke("memory://elsewhere", "worker", "tests.cli_kit:worker")
    assert result.exit_code == 0, result.output
    assert "QUEUE_CORE_URL is not applied" in result.stderr
    refused = invoke(None, "worker", "tests.cli_kit:worker", "--url", "memory://elsewhere")
    assert refused.exit_code == 2 and "--url (or QUEUE_CORE_URL) cannot change it" in refused.stderr


def test_queue_option_keeps_the_order_and_the_weights() -> None:
    assert queue_option([("critical", None), ("low", None)]) == ["critical", "low"]
    assert queue_option([("critical", 6), ("low", None)]) == {"critical": 6, "low": 1}


# --------------------------------------------------------------------------- real processes


class Running:
    """A ``python -m queue_core`` process and the lines it wrote on stderr."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def collect(self) -> None:
        assert self.process.stderr is not None
        buffer = ""
        async for chunk in TextReceiveStream(self.process.stderr):
            buffer += chunk
            *complete, buffer = buffer.split("\n")
            self.lines += complete

    async def line(self, pattern: str, start: int = 0) -> tuple[re.Match[str], int]:
        """The first line from ``start`` on matching ``pattern``, and its index."""
        with anyio.fail_after(PATIENCE):
            while True:
                for index in range(start, len(self.lines)):
                    found = re.search(pattern, self.lines[index])
                    if found:
                        return found, index
                await anyio.sleep(0.05)

    async def exit_code(self) -> int:
        with anyio.fail_after(PATIENCE):
            return await self.process.wait()

    def log(self) -> str:
        return "\n".join(self.lines)


@asynccontextmanager
async def cli_process(*args: str) -> AsyncIterator[Running]:
    command = [sys.executable, "-m", "queue_core", *args]
    process = await anyio.open_process(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    running = Running(process)
    async with process, anyio.create_task_group() as tg:
        tg.start_soon(running.collect)
        try:
            yield running
        finally:
            if process.returncode is None:
                process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()
            tg.cancel_scope.cancel()


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    try:
        with anyio.fail_after(PATIENCE):
            while not await check():
                await anyio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture
def url(redis_url: str) -> str:
    return with_prefix(redis_url, f"cliproc{secrets.token_hex(4)}")


async def started_children(supervisor: Running) -> tuple[int, int]:
    """The PIDs of children 1 and 2, as the supervisor announced them."""
    first, _ = await supervisor.line(r"process 1 started \(pid (\d+)\)")
    second, _ = await supervisor.line(r"process 2 started \(pid (\d+)\)")
    return int(first[1]), int(second[1])


@pytest.mark.redis
async def test_sigterm_stops_the_worker_gracefully(url: str, anyio_backend: str) -> None:
    async with Manager(url) as manager, Client(url) as client:
        quick = (await client.enqueue("sleep", 1.0, retention=600)).id
        stuck = (await client.enqueue("sleep", None)).id

        async def both_running() -> bool:
            return (await manager.queue_info("default")).active == 2

        async with cli_process("worker", APP, "--url", url, "--backend", anyio_backend, "-c", "2") as worker:
            await until(both_running, "both jobs to run")
            worker.process.send_signal(signal.SIGTERM)
            assert await worker.exit_code() == 0, worker.log()
        finished = await manager.job_info("default", quick)
        requeued = await manager.job_info("default", stuck)
        assert finished.state is JobState.COMPLETED  # it finished within the drain
        assert (requeued.state, requeued.retried) == (JobState.PENDING, 0)  # interrupted, back without a retry
        assert await manager.list_workers() == []
        assert "SIGTERM received, stopping" in worker.log()


@pytest.mark.redis
async def test_processes_restarts_a_killed_child_and_stops_all_on_sigterm(url: str, anyio_backend: str) -> None:
    args = ["--url", url, "--backend", anyio_backend, "-q", "default", "-q", "ticks"]
    async with Manager(url) as manager:

        async def live_pids() -> set[int]:
            return {worker.pid for worker in await manager.list_workers()}

        async with cli_process("worker", APP, *args, "-p", "2", "--with-scheduler", ":create_scheduler") as supervisor:
            victim, second = await started_children(supervisor)
            pids = {victim, second}

            async def both_live() -> bool:
                return await live_pids() == pids

            await until(both_live, "both children's heartbeats")
            os.kill(victim, signal.SIGKILL)
            _, at = await supervisor.line(rf"process 1 \(pid {victim}\) was killed by SIGKILL; restarting it")
            restarted, _ = await supervisor.line(r"process 1 started \(pid (\d+)\)", at)
            replacement = int(restarted[1])
            assert replacement not in pids

            async def replaced() -> bool:
                return replacement in await live_pids()

            await until(replaced, "the new child's heartbeat")

            async def one_scheduler() -> bool:
                # The first child's only; the killed one's heartbeat lapses.
                return len({entry.scheduler_id for entry in await manager.schedules()}) == 1

            await until(one_scheduler, "the restarted child's scheduler alone")
            supervisor.process.send_signal(signal.SIGTERM)
            assert await supervisor.exit_code() == 0, supervisor.log()
        log = supervisor.log()
        assert f"process 1 (pid {replacement}) exited with code 0" in log
        assert f"process 2 (pid {second}) exited with code 0" in log
        assert await manager.list_workers() == []
        assert await manager.schedules() == []


@pytest.mark.redis
async def test_children_stop_when_their_supervisor_dies(url: str, anyio_backend: str) -> None:
    command = ["worker", APP, "--url", url, "--backend", anyio_backend, "-p", "2"]
    async with Manager(url) as manager, cli_process(*command) as supervisor:
        children = await started_children(supervisor)

        async def both_live() -> bool:
            return len(await manager.list_workers()) == 2

        await until(both_live, "both children's heartbeats")
        supervisor.process.kill()

        async def all_gone() -> bool:
            return all(gone(pid) for pid in children) and not await manager.list_workers()

        await until(all_gone, "the orphaned children to stop")
        assert "the supervisor" in supervisor.log() and "is gone; stopping" in supervisor.log()


@pytest.mark.redis
async def test_the_scheduler_command_fires_and_stops_on_sigterm(url: str, anyio_backend: str) -> None:
    async with Manager(url) as manager:

        async def fired() -> bool:
            return "ticks" in await manager.queue_names() and bool(await manager.schedules())

        spec = "tests.cli_kit:create_scheduler"
        async with cli_process("scheduler", spec, "--url", url, "--backend", anyio_backend) as scheduler:
            await until(fired, "a first tick")
            scheduler.process.send_signal(signal.SIGTERM)
            assert await scheduler.exit_code() == 0, scheduler.log()
        assert (await manager.queue_info("ticks")).pending >= 1
        assert await manager.schedules() == []


@pytest.mark.redis
async def test_a_worker_with_its_scheduler(url: str, anyio_backend: str) -> None:
    args = ["--url", url, "--backend", anyio_backend, "-q", "default", "-q", "ticks"]
    args += ["--with-scheduler", ":create_scheduler"]
    async with Manager(url) as manager:

        async def ticked() -> bool:
            return "ticks" in await manager.queue_names() and (await manager.queue_info("ticks")).processed_total >= 1

        async with cli_process("worker", APP, *args) as worker:
            await until(ticked, "a tick to be enqueued and processed")
            worker.process.send_signal(signal.SIGINT)
            assert await worker.exit_code() == 0, worker.log()
        assert await manager.schedules() == []
        assert await manager.list_workers() == []
