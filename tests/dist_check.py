"""``make dist-check``: check the release artifacts as a user meets them, not the checkout.

    python tests/dist_check.py            # build, check, install and run; prints each step's time

1. Build the sdist, and the wheel from that sdist (``python -m build``), and
   ``twine check --strict`` both.
2. Check the wheel's contents against the tree (``tests/test_packaging.py``).
3. Install the wheel with its ``trio`` and ``conformance`` extras into a brand-new venv and,
   from a temporary directory outside the checkout (so nothing of ``src/`` is on
   ``sys.path``), run ``queue-core --version``, ``queue-core demo``, a short program that
   enqueues and runs a worker on memory:// and on a throwaway redis-server, and the
   conformance kit on both (``DIST_CHECK_EXAMPLES`` examples per state machine, default 25:
   the full kit runs in ``make test``; this run proves the installed kit works).
4. Install the sdist, with no extras, into another new venv and import every module of
   every package; the kit without its extra must name the ``conformance`` extra.

Every temporary file lives under one temp directory, removed at the end, as is the Redis.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from redis_server import RedisServer  # the sibling module; this file runs as a script

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("queue_core", "queue_redis", "queue_fakeredis", "queue_conformance")
EXAMPLES = os.environ.get("DIST_CHECK_EXAMPLES", "25")

# Enqueue on a broker, run a worker until the jobs are done, check the results: the
# smallest real use of the installed package.
PROGRAM = """
import json
import sys

import anyio

from queue_core import Client, Delivery, Manager, Worker, open_broker

URL = sys.argv[1]
BACKEND = sys.argv[2]
PREFIX = {"prefix": "dist-check-" + BACKEND}


async def main() -> None:
    done = anyio.Event()
    seen = []
    worker = Worker(URL, broker_options=PREFIX, concurrency=4)

    @worker.handler("add")
    async def add(delivery: Delivery) -> int:
        numbers = delivery.decode()
        seen.append(numbers)
        if len(seen) == 10:
            done.set()
        return numbers["a"] + numbers["b"]

    async with Client(URL, broker_options=PREFIX) as client:
        ids = [(await client.enqueue("add", {"a": n, "b": n}, retention=60)).job_id for n in range(10)]
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        with anyio.fail_after(60):
            await done.wait()
        worker.stop()
    broker = await open_broker(URL, **PREFIX)
    try:
        async with Manager(broker) as manager:
            results = [json.loads(await manager.job_result("default", job_id)) for job_id in ids]
    finally:
        await broker.close()
    assert sorted(results) == sorted(2 * n for n in range(10)), results
    print(f"processed {len(seen)} jobs on {URL} under {BACKEND}")


anyio.run(main, backend=BACKEND)
"""

IMPORT_EVERYTHING = """
import importlib
import pkgutil

import queue_conformance
from queue_core import MissingDependency
from queue_conformance.requirements import require_kit_dependencies

count = 0
optional = set()
for name in ("queue_core", "queue_redis", "queue_fakeredis", "queue_postgres"):
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        try:
            importlib.import_module(module.name)
        except MissingDependency as exc:
            # The observability plugins', the dashboard's and the PostgreSQL driver's
            # modules need their extra; each says which.
            assert exc.extra in ("prometheus", "otel", "dashboard", "postgres"), (module.name, exc)
            optional.add(exc.extra)
            continue
        count += 1
assert optional == {"prometheus", "otel", "dashboard", "postgres"}, optional
from queue_core.plugins import plugin_manager
assert type(plugin_manager().get_plugin("prometheus")) is object, "the prometheus plugin loaded without its extra"
try:
    require_kit_dependencies()
except MissingDependency as exc:
    assert exc.extra == "conformance", exc
else:
    raise AssertionError("the kit ran without its extra installed")
print(f"imported {count} modules and the kit's package; the kit and the optional features name their extras")
"""


class Steps:
    def __init__(self) -> None:
        self.times: list[tuple[str, float]] = []

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        print(f"\ndist-check: {label}", flush=True)
        started = time.monotonic()
        yield
        self.times.append((label, time.monotonic() - started))

    def report(self) -> None:
        print("\ndist-check: passed", flush=True)
        for label, seconds in self.times:
            print(f"  {seconds:6.1f}s  {label}")
        print(f"  {sum(s for _, s in self.times):6.1f}s  total")


def run(command: Sequence[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    printable = shlex.join(str(part) for part in command)
    print(f"+ {printable}", flush=True)
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        raise SystemExit(f"dist-check: FAILED: {printable} (exit {done.returncode})")
    return done.stdout


def new_venv(path: Path, install: str, *, cwd: Path) -> Path:
    run([sys.executable, "-m", "venv", path], cwd=cwd)
    python = path / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", install], cwd=cwd)
    return python


def user_env() -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH, no Redis of ours unless asked."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "REDIS_URL", "VIRTUAL_ENV")}


def main() -> int:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    steps = Steps()
    with tempfile.TemporaryDirectory(prefix="queue-core-dist-check-") as tmp:
        base = Path(tmp)
        dist, work = base / "dist", base / "work"
        work.mkdir()
        env = user_env()

        with steps.step("build the sdist, then the wheel from it"):
            run([sys.executable, "-m", "build", "--outdir", dist, ROOT], cwd=ROOT)
            [wheel] = dist.glob("*.whl")
            [sdist] = dist.glob("*.tar.gz")
        with steps.step("twine check --strict"):
            run([sys.executable, "-m", "twine", "check", "--strict", wheel, sdist], cwd=ROOT)
        with steps.step("the wheel ships every file of the tree (tests/test_packaging.py)"):
            run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_packaging.py"],
                cwd=ROOT,
                env={**os.environ, "QUEUE_CORE_WHEEL": str(wheel)},
            )

        with steps.step("install the wheel [trio,conformance] into a new venv"):
            python = new_venv(base / "venv-wheel", f"{wheel}[trio,conformance]", cwd=work)
        bin_dir = python.parent
        with steps.step("queue-core --version, from outside the checkout"):
            out = run([bin_dir / "queue-core", "--version"], cwd=work, env=env)
            if out.strip() != f"queue-core, version {version}":
                raise SystemExit(f"dist-check: FAILED: --version said {out.strip()!r}, pyproject says {version}")
            origin = run([python, "-c", "import queue_core; print(queue_core.__file__)"], cwd=work, env=env)
            if str(ROOT) in origin:
                raise SystemExit(f"dist-check: FAILED: queue_core imported from the checkout: {origin}")
        with steps.step("queue-core demo"):
            run([bin_dir / "queue-core", "demo", "--jobs", "100"], cwd=work, env=env)

        (work / "enqueue_and_work.py").write_text(PROGRAM)
        with RedisServer() as redis:
            for url in ("memory://", redis.url):
                for backend in ("asyncio", "trio"):
                    with steps.step(f"enqueue and run a worker on {url.split(':')[0]}:// under {backend}"):
                        print(run([python, "enqueue_and_work.py", url, backend], cwd=work, env=env).strip())
            for url in ("memory://", redis.url):
                with steps.step(f"the conformance kit on {url.split(':')[0]}:// ({EXAMPLES} examples)"):
                    kit = [python, "-m", "pytest", "-q", "-p", "queue_conformance", "--pyargs", "queue_conformance"]
                    out = run([*kit, "--broker", url, "--conformance-examples", EXAMPLES], cwd=work, env=env)
                    print(out.strip().splitlines()[-1])

        with steps.step("install the sdist (no extras) into a new venv and import every module"):
            python = new_venv(base / "venv-sdist", str(sdist), cwd=work)
            print(run([python, "-c", IMPORT_EVERYTHING], cwd=work, env=env).strip())
    steps.report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
