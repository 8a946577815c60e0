"""Fixtures of the fault harness (see ``tests/fault/README.md``).

- ``node``: a private redis-server (the plan's baseline arguments), killed afterwards.
- ``scenario``: builds a ``Scenario`` on a node, with a work directory under tmp_path.
- Every row a scenario reports is printed at the end of the run (and appended as JSON to
  ``$QUEUE_CORE_FAULT_REPORT`` when set).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fault.nodes import RedisNode
from tests.fault.scenario import ROWS, Scenario

SEEDS_ENV = "QUEUE_CORE_FAULT_SEEDS"


def long_seeds() -> list[int]:
    """Seeds for the ``long`` variants (``make test-faults-long``): $QUEUE_CORE_FAULT_SEEDS
    (comma-separated) or 2-5."""
    raw = os.environ.get(SEEDS_ENV, "2,3,4,5")
    return [int(s) for s in raw.split(",") if s.strip()]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fault/" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(pytest.mark.redis)


@pytest.fixture
def node() -> Iterator[RedisNode]:
    node = RedisNode().start()
    try:
        yield node
    finally:
        node.close()


@pytest.fixture
def scenario(tmp_path: Any) -> Iterator[Callable[..., Scenario]]:
    made: list[Scenario] = []

    def make(name: str, target: RedisNode, **options: Any) -> Scenario:
        s = Scenario(name, target.url, tmp_path / name, admin=target.admin(), **options)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS:
        return
    terminalreporter.section("fault scenarios")
    columns = ["scenario", "seed", "redis_mode", "enqueued", "completed", "archived", "lost", "duplicates",
               "unexplained_duplicates", "fsck_violations", "recovery_s_max", "bound_s"]  # fmt: skip
    terminalreporter.write_line(" ".join(f"{c[:12]:>12}" for c in columns))
    for row in ROWS:
        terminalreporter.write_line(" ".join(f"{str(row.get(c, '-'))[:12]:>12}" for c in columns))
    for row in ROWS:
        extra = {k: v for k, v in row.items() if k not in columns}
        terminalreporter.write_line(f"{row['scenario']} (seed {row['seed']}): {extra}")
