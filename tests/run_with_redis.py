"""Run pytest with a Redis to talk to: ``make test`` (and CI) in one command.

    python tests/run_with_redis.py                 # tests/, then the conformance kit on memory:// and Redis
    python tests/run_with_redis.py tests/fault -m long   # one pytest run with these arguments

When ``REDIS_URL`` is unset, a throwaway ``redis-server`` is started on a free port (installing
Debian's package first when the binary is missing and we are root), exported as ``REDIS_URL``
for the runs, and stopped afterwards, also on Ctrl-C, SIGTERM or failure.

Every run must pass and must run something: pytest's exit 5 (no tests collected) is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

from redis_server import RedisServer  # the sibling module; this file runs as a script

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


def planned_runs(argv: Sequence[str], redis_url: str) -> list[tuple[str, list[str]]]:
    if not conformance_kit_present():
        print(
            f"run_with_redis: {CONFORMANCE_PLUGIN} does not exist yet: the conformance kit is NOT run",
            flush=True,
        )
        # pyproject's pytest11 entry point names the missing module; pytest cannot start unless
        # that plugin is blocked.
        block = ["-p", f"no:{CONFORMANCE_ENTRY_POINT}"]
        return [("pytest", [*argv, *block])] if argv else [("tests/", ["tests", "-m", "not long", *block])]
    if argv:
        return [("pytest", list(argv))]
    kit = ["-p", CONFORMANCE_ENTRY_POINT, "--pyargs", "queue_conformance"]
    return [
        ("tests/", ["tests", "-m", "not long"]),
        ("conformance memory://", [*kit, "--broker", "memory://"]),
        ("conformance redis", [*kit, "--broker", redis_url]),
        # A query string sends every call through redis.asyncio / redis-py instead of the
        # pipelined connection (docs/redis.md): the kit covers that path too.
        ("conformance redis via redis-py", [*kit, "--broker", with_query(redis_url, "client_name=queue-core-kit")]),
    ]


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


def main(argv: Sequence[str]) -> int:
    os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # SIGTERM (CI timeouts, `kill`) unwinds like Ctrl-C, so the finally below stops Redis.
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    server: RedisServer | None = None
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            server = RedisServer().start()
            redis_url = os.environ["REDIS_URL"] = server.url
            print(f"run_with_redis: started redis-server (pid {server.pid}) at {redis_url}", flush=True)
        else:
            print(f"run_with_redis: using REDIS_URL={redis_url}", flush=True)

        runs = planned_runs(argv, redis_url)
        results = [(label, run_pytest(label, args)) for label, args in runs]
    except KeyboardInterrupt:
        print("\nrun_with_redis: interrupted", file=sys.stderr, flush=True)
        return 130
    finally:
        if server is not None:
            server.close()

    print("\nrun_with_redis: summary", flush=True)
    for label, code in results:
        print(f"  {label}: {describe(code)}", flush=True)
    return 0 if all(code == 0 for _, code in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
