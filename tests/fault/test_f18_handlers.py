"""F18: handlers that raise BaseException subclasses, swallow cancellation or block the
event loop. Every job must reach a defined state, none may stay active, healthy jobs
keep flowing, and a handler that kills its worker must not kill workers forever."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.fault.nodes import RedisNode
from tests.fault.scenario import Scenario

MAX_RESTARTS = 8

CASES: dict[str, dict[str, Any]] = {
    "SystemExit": {"kind": "raise", "exc": "SystemExit"},
    "KeyboardInterrupt": {"kind": "raise", "exc": "KeyboardInterrupt"},
    "GeneratorExit": {"kind": "raise", "exc": "GeneratorExit"},
    "CancelledError": {"kind": "raise", "exc": "CancelledError"},
    "CancelledError-on-trio": {"kind": "raise", "exc": "CancelledError"},
    "BaseExceptionGroup": {"kind": "raise", "exc": "BaseExceptionGroup"},
    "unprintable": {"kind": "raise", "exc": "BadStr"},
    "blocks-loop-5s": {"kind": "block", "ms": 5000},
}


def supervise(s: Scenario, done: Callable[[], bool], timeout: float = 40.0) -> int:
    """Restart dead workers until ``done()``; returns the restarts."""
    restarts = 0
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline or restarts > MAX_RESTARTS:
            raise AssertionError(f"not settled after {restarts} worker restarts; counts {s.counts()}")
        for proc in s.procs:
            if not proc.alive():
                code = proc.process.returncode if proc.process else None
                s.event(f"worker pid {proc.pid} exited ({code}); restarted")
                restarts += 1
                proc.start()
        time.sleep(0.1)
    return restarts


@pytest.mark.parametrize("case", list(CASES))
def test_f18_a_handler_raising_beyond_exception(scenario: Callable[..., Scenario], node: RedisNode, case: str) -> None:
    s = scenario("F18", node)
    backend = "trio" if case.endswith("-on-trio") else "asyncio"
    s.start_workers(1, backend=backend, options={"max_crashes": 2, "concurrency": 4})
    bad = s.produce_now([(f"F18-{case.replace('-on-', '.')}", CASES[case])], max_retries=0)
    normal = s.produce_now(s.jobs(20, lambda rng: {"ms": 20, "kind": "ok"}))
    bad_id = bad.acked[0]

    def settled() -> bool:
        state, _ = s.states([bad_id])[bad_id]
        normal_done = all(st == "completed" for st, _ in s.states(normal.acked).values())
        return state in ("archived", "completed") and normal_done

    # Before the runner's fixes: SystemExit/KeyboardInterrupt requeued the job at the head
    # and killed every restarted worker forever; a CancelledError the handler raised
    # itself crashed the worker, and the crashes archived innocent jobs running beside it.
    restarts = supervise(s, settled)
    s.quiesce()
    state, crashes = s.states([bad_id])[bad_id]
    error = s.admin.hget(f"{s.prefix}:{{default}}:j:{bad_id}", "last_error")
    row = s.verdict(expect_completed=normal.acked, case=case, bad_job_state=state, bad_job_crashes=crashes,
                    worker_restarts=restarts, last_error=(error or b"").decode()[:100])  # fmt: skip
    s.assert_clean(row)


def test_f18_a_handler_that_ignores_cancellation_delays_shutdown_but_loses_nothing(
    scenario: Callable[..., Scenario], node: RedisNode
) -> None:
    s = scenario("F18", node)
    w = s.worker(options={"shutdown_timeout": 1.0})
    job = s.produce_now([("F18-swallow", {"kind": "swallow", "ms": 4000})])
    s.wait_until(lambda: any(e.kind == "S" for e in s.entries()), 10, "started")
    at = s.event(f"SIGTERM to worker pid {w.pid} (handler ignores cancellation for 4 s)")
    w.signal(signal.SIGTERM)
    code = w.wait(20)
    took = time.time() - at
    s.worker()
    s.quiesce()
    row = s.verdict(expect_completed=job.acked, shutdown_s=round(took, 1), exit_code=code)
    s.assert_clean(row)
