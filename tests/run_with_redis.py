"""Run pytest with a Redis and a PostgreSQL to talk to: ``make test`` (and CI) in one command.

    python tests/run_with_redis.py                 # tests/ (every driver), then the kit on memory:// and Redis
    python tests/run_with_redis.py tests/fault -m long   # one pytest run with these arguments
    python tests/run_with_redis.py --kit-redis-py  # only the kit on Redis through redis-py (make test-kit-redis-py)
    python tests/run_with_redis.py --kit-postgres  # only the kit on PostgreSQL (make test-kit-postgres)

When ``REDIS_URL`` is unset, a throwaway ``redis-server`` is started on a free port (installing
Debian's package first when the binary is missing and we are root), exported as ``REDIS_URL``
for the runs, and stopped afterwards, also on Ctrl-C, SIGTERM or failure. Likewise, when
``POSTGRES_URL`` is unset, a throwaway PostgreSQL cluster (``tests/postgres_server.py``) is
started beside it and exported as ``POSTGRES_URL``; if it fails to start, the Redis already
started is stopped too.

Every run must pass and must run something: pytest's exit 5 (no tests collected) is a failure.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from importlib import metadata
from types import FrameType

from postgres_server import PostgresServer  # sibling modules; this file runs as a script
from redis_server import RedisServer

NO_TESTS_COLLECTED = 5
CONFORMANCE_PLUGIN = "queue_conformance.plugin"
# The pytest11 entry-point name under which pyproject registers the conformance plugin. Loading
# it by this name (not by module path) avoids registering the same module twice when entry
# points are autoloaded, and still works under PYTEST_DISABLE_PLUGIN_AUTOLOAD.
CONFORMANCE_ENTRY_POINT = "queue_conformance"


def conformance_kit_present() -> bool:
    try:
        return importlib.util.find_spec(CONFORMANCE_PLUGIN) is not None
    except ImportError:
        return False


#: the one argument that is not pytest's: the kit on Redis through redis-py alone.
KIT_REDIS_PY = "--kit-redis-py"
KIT_POSTGRES = "--kit-postgres"


def postgres_driver_installed() -> bool:
    return any(entry.value.startswith("queue_postgres") for entry in metadata.entry_points(group="queue_core"))


def planned_runs(argv: Sequence[str], redis_url: str, postgres_url: str | None = None) -> list[tuple[str, list[str]]]:
    if not conformance_kit_present():
        print(
            f"run_with_redis: {CONFORMANCE_PLUGIN} does not exist yet: the conformance kit is NOT run",
            flush=True,
        )
        # pyproject's pytest11 entry point names the missing module; pytest cannot start unless
        # that plugin is blocked.
        block = ["-p", f"no:{CONFORMANCE_ENTRY_POINT}"]
        return [("pytest", [*argv, *block])] if argv else [("tests/", ["tests", "-m", "not long", *block])]
    kit = ["-p", CONFORMANCE_ENTRY_POINT, "--pyargs", "queue_conformance"]
    # A query string sends every call through redis.asyncio / redis-py instead of the
    # pipelined connection (docs/redis.md): the kit covers that path too, in its own make
    # target (make test-kit-redis-py, run by CI) so that make test stays within its time.
    via_redis_py = with_query(redis_url, "client_name=queue-core-kit")
    redis_py = ("conformance redis via redis-py", [*kit, "--broker", via_redis_py])
    if list(argv) == [KIT_REDIS_PY]:
        return [redis_py]
    # The kit on PostgreSQL is its own target too (make test-kit-postgres, run by CI): its
    # state machines open a schema per example and take several minutes. make test still
    # covers the driver: every broker_url test of tests/ runs on PostgreSQL.
    if list(argv) == [KIT_POSTGRES]:
        if postgres_url is None or not postgres_driver_installed():
            raise SystemExit("run_with_redis: --kit-postgres needs the driver queue_postgres and a PostgreSQL")
        return [("conformance postgresql", [*kit, "--broker", postgres_url])]
    if argv:
        return [("pytest", list(argv))]
    runs = [
        ("tests/", ["tests", "-m", "not long"]),
        ("conformance memory://", [*kit, "--broker", "memory://"]),
        ("conformance redis", [*kit, "--broker", redis_url]),
    ]
    return runs


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def run_pytest(label: str, args: Sequence[str]) -> int:
    command = [sys.executable, "-m", "pytest", *args]
    print(f"\nrun_with_redis: [{label}] {shlex.join(command)}", flush=True)
    return subprocess.run(command, check=False).returncode


def describe(code: int) -> str:
    if code == 0:
        return "passed"
    if code == NO_TESTS_COLLECTED:
        return "FAILED: collected no tests (pytest exit 5)"
    return f"FAILED (pytest exit {code})"


def raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def redis_for_run() -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        print(f"run_with_redis: using REDIS_URL={url}", flush=True)
        yield url
        return
    with RedisServer() as server:
        url = os.environ["REDIS_URL"] = server.url
        print(f"run_with_redis: started redis-server (pid {server.pid}) at {url}", flush=True)
        yield url


@contextlib.contextmanager
def postgres_for_run() -> Iterator[str]:
    url = os.environ.get("POSTGRES_URL")
    if url:
        print(f"run_with_redis: using POSTGRES_URL={url}", flush=True)
        yield url
        return
    with PostgresServer() as server:
        url = os.environ["POSTGRES_URL"] = server.url
        print(f"run_with_redis: started a PostgreSQL cluster (pid {server.pid}) at {url}", flush=True)
        yield url


def main(argv: Sequence[str]) -> int:
    os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # SIGTERM (CI timeouts, `kill`) unwinds like Ctrl-C, so the with blocks below stop the servers.
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    try:
        # Nested: a PostgreSQL that fails to start unwinds through the Redis block, which stops
        # the redis-server already started.
        with redis_for_run() as redis_url, postgres_for_run() as postgres_url:
            runs = planned_runs(argv, redis_url, postgres_url)
            results = [(label, run_pytest(label, args)) for label, args in runs]
    except KeyboardInterrupt:
        print("\nrun_with_redis: interrupted", file=sys.stderr, flush=True)
        return 130

    print("\nrun_with_redis: summary", flush=True)
    for label, code in results:
        print(f"  {label}: {describe(code)}", flush=True)
    return 0 if all(code == 0 for _, code in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
