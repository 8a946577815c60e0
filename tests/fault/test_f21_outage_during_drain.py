"""F21: Redis down for 5 s during a drain. Handlers that finish while it is down keep
their outcome and write it once Redis answers again (within the job's lease), so nothing
runs twice; the workers log the outage once when it begins and once when it ends."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.fault.nodes import RedisNode
from tests.fault.scenario import Scenario

DOWN = 5.0
#: longer than the outage plus a renewal period: the promise is "an outage shorter than
#: the lease re-runs nothing" (production lease 30 s; the fault profile's 2 s is too short).
LEASE = 10.0


def test_f21_outcomes_survive_a_5s_outage_during_a_drain(scenario: Callable[..., Scenario]) -> None:
    """Before: outcome writes were given up after about 0.6 s; the jobs that finished
    during the outage stayed active until their leases ran out and ran again."""
    node = RedisNode(args=["--appendonly", "yes", "--appendfsync", "always"]).start()
    try:
        s = scenario("F21", node)
        s.redis_mode = "single, AOF always"
        s.produce_now(s.jobs(120, lambda rng: {"ms": rng.randint(200, 1200), "kind": "ok"}))
        workers = s.start_workers(2, options={"lease_for": LEASE})
        s.wait_effects(20)
        down = s.event(f"kill -9 redis pid {node.pid}, restart from its AOF {DOWN:g} s later")
        node.kill()
        time.sleep(DOWN)
        node.start()
        up = s.event("redis back")
        s.quiesce()
        finished_while_down = [e for e in s.entries() if e.kind == "E" and down < e.at < up]
        logs = "".join(w.log() for w in workers)
        row = s.verdict(
            finished_while_down=len(finished_while_down),
            outage_reports=logs.count("the broker is unreachable"),
            outage_ends=logs.count("the broker answers again"),
        )
        s.assert_clean(row)
        assert row["finished_while_down"] > 0, row  # the scenario tested what it claims
        assert row["duplicates"] == 0, row
        assert row["outage_reports"] == row["outage_ends"] == len(workers), row
        assert all(w.alive() for w in workers)
    finally:
        node.close()
