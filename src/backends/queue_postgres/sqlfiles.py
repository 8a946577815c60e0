"""The driver's SQL: migrations (``migrations/NNNN_name.sql``) and one file per transition
(``sql/<name>.sql``, each a ``CREATE OR REPLACE FUNCTION``), read from the installed
package and rendered for one schema.

In the files, ``_qc_.`` stands for the broker's schema: rendering puts the quoted schema
name in its place, so one set of files serves any number of schemas in one database.
``@schema`` inside a string literal stands for the bare name (notification channels).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from queue_core import InvalidBrokerURL

SCHEMA_TOKEN = "_qc_."
NAME_TOKEN = "@schema"
#: A schema name the driver accepts: letters, digits, ``_`` and ``-``, at most 48 bytes
#: (PostgreSQL cuts identifiers at 63; notification channels add a few characters).
SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,47}$")
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def check_schema(name: str) -> str:
    if not isinstance(name, str) or not SCHEMA_NAME.match(name):
        raise InvalidBrokerURL(
            "schema", name, "a name of letters, digits, '_' and '-', starting with a letter or '_', up to 48 characters"
        )
    return name


def quoted(schema: str) -> str:
    """The schema as an SQL identifier (checked names hold no double quote)."""
    return '"' + check_schema(schema) + '"'


def render(text: str, schema: str) -> str:
    return text.replace(SCHEMA_TOKEN, quoted(schema) + ".").replace(NAME_TOKEN, check_schema(schema))


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str  # the file name without .sql, e.g. "0001_jobs"
    text: str  # unrendered


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """Every migration shipped, by version; versions are 1, 2, ... without gaps."""
    found = []
    for entry in resources.files("queue_postgres.migrations").iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name[:-4], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    assert [m.version for m in found] == list(range(1, len(found) + 1)), "migration versions must be 1..N"
    return tuple(found)


@functools.cache
def transitions() -> dict[str, str]:
    """Every transition's file (unrendered), by name, sorted by name."""
    files = {
        entry.name[:-4]: entry.read_text("utf-8")
        for entry in resources.files("queue_postgres.sql").iterdir()
        if entry.name.endswith(".sql")
    }
    return dict(sorted(files.items()))


@functools.cache
def transitions_digest() -> str:
    """A digest of every transition file: the installed functions are current when the
    schema records this digest."""
    digest = hashlib.sha256()
    for name, text in transitions().items():
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()[:32]
