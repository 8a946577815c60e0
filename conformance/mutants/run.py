"""Mutation testing of the conformance kit: does the kit kill every curated mutant?

    python conformance/mutants/run.py                  # every mutant, memory:// and Redis, once
    python conformance/mutants/run.py --runs 3         # three rounds in a row
    python conformance/mutants/run.py --fast           # CI: the fast subset, each on its focus module only
    python conformance/mutants/run.py --only orphans-skipped --drivers memory

Each mutant (``mutants.toml``: one exact text replacement in one file of ``src/``) is
applied to a scratch copy of ``src/``; the kit then runs against that copy (the mutant's
focus module first, for a quick kill, then the whole kit if it survived that) (it comes first
on ``PYTHONPATH``, ahead of the installed queue-core) in a fresh working directory, so no
Hypothesis database carries a failing example from one run to the next. The kit failing is
a kill; the kit passing is a survivor. Before the mutants, the same command runs on the
unmutated copy and must pass, so a kill is never a kit that fails anyway.

When ``REDIS_URL`` is unset and Redis is among the drivers, a throwaway ``redis-server`` is
started (``tests/redis_server.py``) and flushed after every run. Exit status: 0 when every
mutant was killed on every driver in every round, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = Path(__file__).with_name("mutants.toml")
#: The kit's default is 200 examples per state machine; mutants are killed well before.
EXAMPLES = 100
#: A run longer than this is reported as an error, not as a survivor.
RUN_TIMEOUT = 1200
DRIVERS = ("memory", "redis")


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    find: str
    replace: str
    bug: str
    focus: str
    fast: bool = False

    def apply(self, root: Path) -> None:
        path = root / self.file
        text = path.read_text()
        found = text.count(self.find)
        if found != 1:
            raise SystemExit(f"mutant {self.name}: the text to replace occurs {found} times in {self.file}, not once")
        path.write_text(text.replace(self.find, self.replace))


@dataclass(frozen=True)
class Outcome:
    verdict: str  # "killed", "SURVIVED", "error"
    seconds: float
    detail: str


def load_mutants() -> list[Mutant]:
    with MUTANTS.open("rb") as handle:
        entries = tomllib.load(handle)["mutant"]
    mutants = [Mutant(**entry) for entry in entries]
    names = [mutant.name for mutant in mutants]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise SystemExit(f"mutants.toml: names used twice: {duplicated}")
    return mutants


@contextmanager
def scratch_copy(mutant: Mutant | None) -> Iterator[Path]:
    """A copy of ``src/`` (mutated, when a mutant is given) in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="qc-mutant-") as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
        if mutant is not None:
            mutant.apply(root)
        yield root


def environment(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(root / "src"), str(root / "src" / "backends")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def check_imports_from(root: Path) -> None:
    """The kit must import the scratch copy, not the installed queue-core."""
    probe = "import queue_core, queue_redis, queue_fakeredis; print(queue_core.__file__, queue_redis.__file__)"
    shown = subprocess.run(
        [sys.executable, "-c", probe], env=environment(root), cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = [path for path in shown if not Path(path).resolve().is_relative_to(root.resolve())]
    if outside:
        raise SystemExit(f"Python imports {outside}, not the scratch copy: mutants would not be tested")


def kit_command(url: str, focus: str | None, examples: int) -> list[str]:
    target = f"queue_conformance.{focus.removesuffix('.py')}" if focus else "queue_conformance"
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "queue_conformance",
        "--pyargs",
        target,
        "--broker",
        url,
        "--conformance-examples",
        str(examples),
        "-x",
        "-q",
        "-rf",
        "-p",
        "no:cacheprovider",
        "-W",
        "error",
    ]


FAILED_LINE = re.compile(r"^FAILED (\S+)", re.MULTILINE)


def run_kit(root: Path, url: str, focus: str | None, examples: int) -> Outcome:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qc-mutant-run-") as workdir:
        try:
            done = subprocess.run(
                kit_command(url, focus, examples),
                env=environment(root),
                cwd=workdir,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Outcome("error", time.monotonic() - started, f"no answer within {RUN_TIMEOUT} s")
    seconds = time.monotonic() - started
    if done.returncode == 0:
        return Outcome("SURVIVED", seconds, "")
    if done.returncode == 1:
        failed = FAILED_LINE.search(done.stdout)
        return Outcome("killed", seconds, failed.group(1).split("::")[-1] if failed else "")
    tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
    return Outcome("error", seconds, f"pytest exit {done.returncode}: " + " | ".join(tail))


def kill(root: Path, url: str, mutant: Mutant, fast: bool, examples: int) -> Outcome:
    """Run the kit against the mutated copy: its focus module first (where the mutant is
    expected to die: a quick kill), then, unless ``fast``, the whole kit. Either failing
    is a kill, exactly as the whole kit failing would be."""
    focused = run_kit(root, url, mutant.focus, examples)
    if fast or focused.verdict != "SURVIVED":
        return focused
    whole = run_kit(root, url, None, examples)
    return Outcome(whole.verdict, focused.seconds + whole.seconds, whole.detail)


def flush(url: str) -> None:
    if url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(url)
        try:
            client.flushdb()
        finally:
            client.close()


@contextmanager
def broker_urls(drivers: Sequence[str]) -> Iterator[dict[str, str]]:
    urls = {"memory": "memory://"}
    if "redis" not in drivers:
        yield {name: urls[name] for name in drivers}
        return
    if os.environ.get("REDIS_URL"):
        urls["redis"] = os.environ["REDIS_URL"]
        yield {name: urls[name] for name in drivers}
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from redis_server import RedisServer

    with RedisServer() as server:
        urls["redis"] = server.url
        print(f"mutation: started redis-server at {server.url}", flush=True)
        yield {name: urls[name] for name in drivers}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drivers", default=",".join(DRIVERS), help="comma-separated: memory, redis")
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME", help="run only these mutants")
    parser.add_argument("--fast", action="store_true", help="the fast subset, each on its focus module only")
    parser.add_argument("--runs", type=int, default=1, help="rounds in a row (default 1)")
    parser.add_argument("--examples", type=int, default=EXAMPLES, help=f"state-machine examples (default {EXAMPLES})")
    args = parser.parse_args(argv)

    drivers = [name.strip() for name in args.drivers.split(",") if name.strip()]
    unknown = sorted(set(drivers) - set(DRIVERS))
    if unknown:
        parser.error(f"unknown drivers {unknown}; choose among {list(DRIVERS)}")
    mutants = load_mutants()
    if args.only:
        missing = sorted(set(args.only) - {mutant.name for mutant in mutants})
        if missing:
            parser.error(f"no such mutants: {missing}")
        mutants = [mutant for mutant in mutants if mutant.name in args.only]
    if args.fast:
        mutants = [mutant for mutant in mutants if mutant.fast]
    for mutant in mutants:  # every patch must apply before anything runs
        with scratch_copy(mutant):
            pass

    focuses = sorted({mutant.focus for mutant in mutants}) if args.fast else [None]
    results: dict[tuple[int, str, str], Outcome] = {}
    with broker_urls(drivers) as urls:
        with scratch_copy(None) as clean:
            check_imports_from(clean)
            for driver, url in urls.items():
                for focus in focuses:
                    baseline = run_kit(clean, url, focus, args.examples)
                    flush(url)
                    label = focus or "the whole kit"
                    passed = baseline.verdict == "SURVIVED"  # no mutant: the kit must pass
                    shown = "passed" if passed else "FAILED"
                    print(f"baseline {driver:6} {label}: {shown} in {baseline.seconds:.0f} s", flush=True)
                    if not passed:
                        print(f"mutation: the kit fails without any mutant ({baseline.detail}); stopping", flush=True)
                        return 1
        for round_ in range(1, args.runs + 1):
            for mutant in mutants:
                with scratch_copy(mutant) as root:
                    for driver, url in urls.items():
                        outcome = kill(root, url, mutant, args.fast, args.examples)
                        flush(url)
                        results[(round_, mutant.name, driver)] = outcome
                        print(
                            f"round {round_} {mutant.name:32} {driver:6} {outcome.verdict:8} "
                            f"{outcome.seconds:5.0f} s  {outcome.detail}",
                            flush=True,
                        )
    return report(results, mutants, list(urls), args.runs)


def report(results: dict[tuple[int, str, str], Outcome], mutants: list[Mutant], drivers: list[str], runs: int) -> int:
    print("\nKill rate (killed / mutants)")
    header = f"{'round':>5}  " + "  ".join(f"{driver:>16}" for driver in drivers)
    print(header)
    all_killed = True
    for round_ in range(1, runs + 1):
        cells = []
        for driver in drivers:
            killed = sum(results[(round_, mutant.name, driver)].verdict == "killed" for mutant in mutants)
            all_killed &= killed == len(mutants)
            cells.append(f"{killed}/{len(mutants)} {100 * killed / len(mutants):5.1f}%")
        print(f"{round_:>5}  " + "  ".join(f"{cell:>16}" for cell in cells))
    verdicts = {(name, driver, outcome.verdict) for (_, name, driver), outcome in results.items()}
    not_killed = sorted(entry for entry in verdicts if entry[2] != "killed")
    for name, driver, verdict in not_killed:
        print(f"  {verdict}: {name} on {driver}")
    return 0 if all_killed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
