"""The side-effect ledger: what handlers did, kept outside the Redis under test.

Each worker process appends to its own file in the ledger directory, one line per event,
written with a single ``os.write`` on an ``O_APPEND`` descriptor, so a process killed at
any instant leaves whole lines behind (or none)::

    S <job id> <retried> <crashes> <token> <pid> <time>     the handler started
    E <job id> <retried> <crashes> <token> <pid> <time>     its side effect happened
    C <job id> 0 0 - <pid> <time>                             the broker applied its completion
    X <job id> <retried> <crashes> <token> <pid> <time>     it started before its dependencies completed

The effect line is the handler's single "effect point": the moment a real handler would
have charged the card or sent the e-mail. The checker counts effect lines per job:
0 is a lost job, 1 is fine, more is a duplicate that a lease expiry must explain.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    kind: str  # "S" started, "E" effect, "C" completion applied, "X" released early
    job_id: str
    retried: int
    crashes: int
    token: str
    pid: int
    at: float


class LedgerWriter:
    """The worker process's side: append-only, one write per line."""

    def __init__(self, directory: str, now: Callable[[], float] = time.time) -> None:
        self.directory = directory
        path = os.path.join(directory, f"ledger-{os.getpid()}.log")
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        #: the machine's true clock, even in a process whose time.time is skewed (F12)
        self._now = now

    def write(self, kind: str, job_id: str, retried: int, crashes: int, token: str) -> None:
        line = f"{kind} {job_id} {retried} {crashes} {token} {os.getpid()} {self._now():.6f}\n"
        os.write(self._fd, line.encode())


def read(directory: str) -> list[Entry]:
    """Every whole line of every worker's ledger, oldest first."""
    entries = []
    for name in sorted(os.listdir(directory)):
        if not name.startswith("ledger-"):
            continue
        with open(os.path.join(directory, name)) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 7 or not line.endswith("\n"):
                    continue  # a line cut by a kill -9 mid-write (never seen, but cheap to allow)
                kind, job_id, retried, crashes, token, pid, at = parts
                entries.append(Entry(kind, job_id, int(retried), int(crashes), token, int(pid), float(at)))
    entries.sort(key=lambda e: e.at)
    return entries


def effects(entries: list[Entry]) -> dict[str, list[Entry]]:
    return of_kind(entries, "E")


def of_kind(entries: list[Entry], kind: str) -> dict[str, list[Entry]]:
    by_job: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.kind == kind:
            by_job[entry.job_id].append(entry)
    return by_job
