"""The Lua scripts, loaded once per process from ``lua/``.

Each transition is one file with a header (KEYS, ARGV, reply). ``_common.lua`` holds
helpers that are prepended to every script, so fencing and counting are written once.
Scripts are plain EVAL scripts (no shebang flags, no Redis Functions, no cmsgpack) so
fakeredis runs them unchanged.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    source: str
    sha: str


def _read(name: str) -> str:
    return resources.files("queue_redis").joinpath("lua", f"{name}.lua").read_text()


@functools.cache
def script(name: str) -> Script:
    source = _read("_common") + "\n" + _read(name)
    return Script(name, source, hashlib.sha1(source.encode()).hexdigest())


NAMES = (
    "enqueue",
    "dequeue",
    "complete",
    "retry",
    "archive",
    "requeue",
    "revoke",
    "extend",
    "write_result",
    "forward",
    "recover",
    "purge",
    "stats",
    "run_job",
    "archive_job",
    "delete_job",
    "cancel",
    "run_all",
    "archive_all",
    "delete_all",
    "list_jobs",
    "job_info",
    "delete_queue",
    "groups",
    "take_token",
    "claim",
    "aggregation_check",
    "read_staged",
    "commit_staged",
    "reclaim_staged",
    "record_metrics",
    "read_metrics",
    "lose_lease",
)


def all_scripts() -> list[Script]:
    return [script(name) for name in NAMES]
