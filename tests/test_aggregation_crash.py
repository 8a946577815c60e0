"""Crash safety: an aggregator killed between staging a group and committing its aggregate
loses nothing. Once the staging set expires, a surviving aggregator gives the members back
to their group and turns them into exactly one aggregate.

The aggregator that dies is a real process (this module, run with ``python -m``): its
``aggregate`` reports the staged members on stdout and then blocks, and the test SIGKILLs
it there, after ``read_staged`` and before ``commit_staged``.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from anyio.streams.text import TextReceiveStream

from queue_core import Aggregator, CheckReport, Client, GroupMember, Job, JobState, ManualClock, open_broker

ROOT = Path(__file__).resolve().parent.parent
Q = "notes"
GROUP = "user-7"
GRACE = 5.0
STAGE_FOR = 60.0
NOW = 1_750_000_000.0
#: a safety net against hangs only; nothing asserts on how long anything took.
PATIENCE = 30.0


def digest(group: str, members: list[GroupMember]) -> Job:
    return Job.create("digest", {"group": group, "members": [m.id for m in members]})


async def _child(url: str, prefix: str, now: float) -> None:
    """The aggregator that dies: stages the group, reports it, and stalls before committing."""
    broker = await open_broker(url, prefix=prefix)

    async def stall(group: str, members: list[GroupMember]) -> Job:
        print("staged", " ".join(member.id for member in members), flush=True)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    aggregator = Aggregator(broker, [Q], stall, grace=GRACE, stage_for=STAGE_FOR, clock=ManualClock(now))
    await aggregator.check_once()


async def _staged_line(process: anyio.abc.Process) -> str:
    assert process.stdout is not None
    seen = ""
    async for chunk in TextReceiveStream(process.stdout):
        seen += chunk
        if "\n" in seen:
            return seen.split("\n", 1)[0]
    return seen


@pytest.mark.redis
async def test_an_aggregator_killed_between_staging_and_commit_loses_nothing(
    redis_url: str, anyio_backend: str
) -> None:
    prefix = f"crash{secrets.token_hex(5)}"
    broker = await open_broker(redis_url, prefix=prefix)
    try:
        clock = ManualClock(NOW)
        client = Client(broker, clock=clock)
        ids = []
        for i in range(5):
            ids.append((await client.enqueue("note", {"n": i}, queue=Q, group=GROUP)).id)
            clock.advance(0.5)
        clock.advance(GRACE)

        command = [sys.executable, "-m", __name__, redis_url, prefix, repr(clock.now()), anyio_backend]
        process = await anyio.open_process(command, cwd=ROOT, stderr=subprocess.PIPE)
        async with process:
            with anyio.fail_after(PATIENCE):
                line = await _staged_line(process)
            process.kill()  # SIGKILL: no cleanup, no finally blocks
            with anyio.fail_after(PATIENCE):
                code = await process.wait()
        assert line.split() == ["staged", *ids], f"child said {line!r}"
        assert code == -signal.SIGKILL

        # Staged, not lost: out of the group, not aggregated, every record still there.
        assert await broker.list_groups(Q) == {}
        assert (await broker.queue_stats(Q, clock.now())).pending == 0
        for job_id in ids:
            assert (await broker.job_info(Q, job_id, clock.now())).state is JobState.AGGREGATING

        survivor = Aggregator(broker, [Q], digest, grace=GRACE, stage_for=STAGE_FOR, clock=clock)
        clock.advance(STAGE_FOR - 0.1)  # the dead process's set has not expired yet
        report = await survivor.check_once()
        assert (report.reclaimed, report.aggregated) == (0, ())

        clock.advance(0.1)
        report = await survivor.check_once()
        assert report.reclaimed == len(ids)
        assert [(made.group, made.members) for made in report.aggregated] == [(GROUP, tuple(ids))]

        (pending,) = await broker.list_jobs(Q, JobState.PENDING, 1, 10, clock.now())
        assert pending.type == "digest"
        assert json.loads(await broker.job_payload(Q, pending.id)) == {"group": GROUP, "members": ids}
        assert await broker.list_groups(Q) == {}
        assert (await survivor.check_once()).aggregated == ()
        clock.advance(STAGE_FOR)
        assert await survivor.check_once() == CheckReport()  # nothing left staged anywhere
    finally:
        await broker.close()


if __name__ == "__main__":
    url, prefix, now, backend = sys.argv[1:5]
    anyio.run(_child, url, prefix, float(now), backend=backend)
