"""Tests that run on memory:// and Redis but not on PostgreSQL.

``tests/conftest.py`` deselects their ``postgres`` parametrization (every other test that takes
``broker_url`` runs on PostgreSQL too, on asyncio and trio); the header of every run says how
many are left. An entry is ``path::test_name`` or a whole module ``path``.

- ``REDIS_ONLY``: tests of the Redis storage itself; they stay Redis-only.
- ``PENDING``: the driver's to-do list, with what failed when the list was made (a run of
  ``pytest tests -m postgres`` on the merged driver). ``QUEUE_CORE_RUN_PENDING=1`` runs them
  anyway; remove an entry once its test passes.
"""

from __future__ import annotations

REDIS_ONLY: dict[str, str] = {
    "tests/test_damage.py": "writes malformed Redis records through the Redis driver's transport and keys",
    "tests/test_storage_layout.py": "the Redis layout-version key (PostgreSQL: tests/test_cli_db.py)",
    "tests/test_manager.py::test_the_memory_estimate_follows_what_the_queue_really_uses": "Redis MEMORY USAGE",
    "tests/test_manager.py::test_server_info_reports_what_the_server_says": "asserts the Redis/fakeredis server report",
}

PREFIX = "builds its URL with ?prefix=NAME; the driver reads ?schema=NAME only (prefix= as an option works)"

PENDING: dict[str, str] = {
    "tests/test_metrics_api.py::test_a_collector_without_url_exports_what_the_app_refreshed_it_with": PREFIX,
    "tests/test_metrics_api.py::test_a_metrics_route_renders_the_process_metrics_and_the_queues": PREFIX,
}

NOT_ON_POSTGRES: dict[str, str] = {**REDIS_ONLY, **PENDING}
