"""The Lua scripts, loaded once per process from ``lua/``.

Each transition is one file with a header (KEYS, ARGV, reply). ``_common.lua`` holds
helpers shared by the scripts, so fencing and counting are written once. A script is
its file preceded by the helpers it calls (and the helpers those call), not by all of
them: Redis runs a script's top level on every call, and each ``local function`` there
is a closure built anew, which cost the enqueue script a third of its own time.
Scripts are plain EVAL scripts (no shebang flags, no Redis Functions, no cmsgpack) so
fakeredis runs them unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    source: str
    sha: str


def _read(name: str) -> str:
    return resources.files("queue_redis").joinpath("lua", f"{name}.lua").read_text()


_DEFINITION = re.compile(r"^local function (\w+)\(", re.M)


@functools.cache
def helpers() -> list[tuple[str, str]]:
    """``_common.lua`` as (name, text) per helper, in file order: a helper is its
    ``local function`` through the ``end`` at the start of a line, with the comment lines
    right above it. Comments that stand apart (between blank lines) are left out."""
    out: list[tuple[str, str]] = []
    comments: list[str] = []
    current: list[str] | None = None
    for line in _read("_common").splitlines():
        if current is not None:
            current.append(line)
            if line == "end":
                out.append((_DEFINITION.findall(current[len(comments)])[0], "\n".join(current)))
                current, comments = None, []
        elif line.startswith("local function "):
            current = [*comments, line]
        elif line.startswith("--"):
            comments.append(line)
        else:
            comments = []
    return out


def _needed(body: str) -> str:
    """The helpers ``body`` calls, directly or through other helpers, in file order."""
    available = helpers()
    wanted: set[str] = set()
    texts = [body]
    while texts:
        text = texts.pop()
        for name, helper in available:
            if name not in wanted and re.search(rf"\b{name}\(", text):
                wanted.add(name)
                texts.append(helper)
    return "\n\n".join(helper for name, helper in available if name in wanted)


@functools.cache
def script(name: str) -> Script:
    body = _read(name)
    source = f"-- _common.lua: the helpers {name}.lua calls\n{_needed(body)}\n\n{body}"
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
