"""F17 property-based fuzzing of names, IDs and cron specs; F20 untrusted input (no
pickle, constant Lua, payloads opaque to Lua, Lua-looking strings inert)."""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from queue_core import Job, Scheduler, SyncClient, ValidationError
from queue_core.scheduling._spec import to_ms
from queue_core.validation import MAX_NAME_LENGTH
from queue_redis import scripts
from queue_redis.keys import QueueKeys
from tests.fault.nodes import RedisNode
from tests.fault.scenario import record

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "f17"
MARKER = "outside-marker"  # a key outside the prefix that no input may touch
NASTY = ["{", "}", "{x}", "a}b{", ":", "*", "?", "[", "]", " ", "\t", "\n", "\x00", "é", "ß",
         "]]..redis.call('FLUSHALL')..--", "KEYS[1]", "ARGV[1]", "x" * 130]  # fmt: skip
SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-"
names = st.one_of(
    st.text(alphabet=SAFE, min_size=1, max_size=12),
    st.text(alphabet=SAFE + "{}*?[] \t\x00é", min_size=0, max_size=12),
    st.builds(lambda a, n, b: a + n + b, st.text(SAFE, max_size=5), st.sampled_from(NASTY), st.text(SAFE, max_size=5)),
    st.text(max_size=20),
    st.text(SAFE, min_size=120, max_size=140),
)


@pytest.fixture(scope="module")
def fuzz_node() -> Iterator[RedisNode]:
    node = RedisNode().start()
    try:
        yield node
    finally:
        node.close()


@pytest.fixture(scope="module")
def fuzz_client(fuzz_node: RedisNode) -> Iterator[SyncClient]:
    with fuzz_node.admin() as conn:
        conn.set(MARKER, b"untouched")
    with SyncClient(fuzz_node.url, broker_options={"prefix": PREFIX}) as client:
        yield client


def _text(key: bytes) -> str:
    return key.decode(errors="surrogateescape")


def check_namespace(conn: object, queues: set[str]) -> None:
    """Every key is ours, global or inside one known queue's hash tag and slot."""
    for raw in conn.scan_iter(count=1000):  # type: ignore[attr-defined]
        key = _text(raw)
        if key == MARKER:
            continue
        assert key.startswith(PREFIX + ":"), f"key outside the prefix: {key!r}"
        global_key = key in (f"{PREFIX}:queues", f"{PREFIX}:layout")
        if global_key or key.startswith((f"{PREFIX}:hb:", f"{PREFIX}:claim:", f"{PREFIX}:events:")):
            continue
        owner = [q for q in queues if key.startswith(f"{PREFIX}:{{{q}}}:")]
        assert len(owner) == 1, f"key {key!r} belongs to {owner} of {sorted(queues)[:5]}..."
        assert key_slot(raw) == key_slot(f"{PREFIX}:{{{owner[0]}}}".encode()), f"{key!r} left its queue's slot"
    assert conn.get(MARKER) == b"untouched"  # type: ignore[attr-defined]


ENQUEUED: set[str] = set()
VERDICT = {"examples": 0, "accepted": 0, "rejected": 0, "accepted_but_unsafe": 0}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(queue=names, job_id=names, group=st.none() | names, job_type=names, unique=st.none() | names)
def test_f17_no_name_reaches_outside_its_queues_keys(
    fuzz_node: RedisNode, fuzz_client: SyncClient, queue: str, job_id: str, group: str | None, job_type: str,
    unique: str | None,
) -> None:  # fmt: skip
    VERDICT["examples"] += 1
    try:
        job = Job(job_type, b"\x00KEYS[1]]]", queue=queue, job_id=job_id, group=group, max_retries=0,
                  unique_for=60 if unique else None, unique_key=unique or None)  # fmt: skip
    except ValidationError:
        VERDICT["rejected"] += 1
        return
    VERDICT["accepted"] += 1
    for name in (queue, job_id, *([group] if group else [])):
        # the documented form: 1-128 characters from A-Z a-z 0-9 _ . : - (no braces)
        if not (0 < len(name) <= MAX_NAME_LENGTH and re.fullmatch(r"[A-Za-z0-9_.:\-]+", name)):
            VERDICT["accepted_but_unsafe"] += 1
            pytest.fail(f"accepted an unsafe name {name!r}")
    try:
        fuzz_client.enqueue_job(job)
    except ValidationError:
        return
    except Exception as exc:  # an ID or unique conflict with an earlier example is fine
        assert type(exc).__name__ in ("JobIdConflict", "DuplicateJob"), exc
        return
    ENQUEUED.add(queue)
    with fuzz_node.admin() as conn:
        stored = conn.hgetall(QueueKeys(PREFIX, queue).job(job_id))
        assert stored[b"type"].decode() == job_type and stored[b"payload"] == b"\x00KEYS[1]]]"
        check_namespace(conn, ENQUEUED)


def test_f17_report(fuzz_node: RedisNode) -> None:
    """Runs after the property test (file order): one report row for it."""
    record({"scenario": "F17", "seed": "hypothesis", "redis_mode": "single", **VERDICT,
            "queues_created": len(ENQUEUED)})  # fmt: skip
    assert VERDICT["accepted_but_unsafe"] == 0


GROUP_OK = st.text(alphabet=SAFE, min_size=1, max_size=20).filter(lambda s: s[0].isalnum())


@settings(max_examples=300, deadline=None)
@given(b=GROUP_OK, set_id=st.text(alphabet="0123456789abcdef", min_size=1, max_size=12), data=st.data())
def test_f17_no_group_name_aliases_another_groups_staging_set(b: str, set_id: str, data: st.DataObject) -> None:
    """Before group names lost ':': group 'g:s:1' was the staging set '1' of group 'g'."""
    a = data.draw(st.one_of(GROUP_OK, st.just(f"{b}:s:{set_id}")))
    keys = QueueKeys(PREFIX, "q")
    try:
        Job("t", queue="q", group=a)
    except ValidationError:
        return
    assert keys.group(a) != keys.staged(b, set_id), (a, b, set_id)


@settings(max_examples=300, deadline=None)
@given(spec=st.one_of(
    st.text(max_size=30),
    st.lists(st.sampled_from(["*", "*/5", "0", "59", "60", "61", "1-5", "5-1", "L", "MON", "٣", "-1", "1,2", "?"]),
             min_size=0, max_size=8).map(" ".join),
))  # fmt: skip
def test_f17_cron_specs_are_refused_at_registration_or_fire_in_the_future(spec: str) -> None:
    scheduler = Scheduler("memory://")
    try:
        entry = scheduler.register_cron("fuzz", spec, "work")
    except ValidationError:
        return
    now = to_ms(time.time())
    tick = entry.spec.next_after(now)
    assert now < tick < now + 5 * 366 * 86400 * 1000, (spec, tick)  # fires, in the future


# --------------------------------------------------------------------------- F20


def python_sources() -> list[Path]:
    return [p for base in ("src", "conformance") for p in (ROOT / base).rglob("*.py")]


def test_f20_no_pickle_anywhere() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+(pickle|cPickle|_pickle|dill|cloudpickle|shelve|marshal)\b|"
                         r"\b(pickle|dill|cloudpickle|marshal)\.(loads?|dumps?|Unpickler)\b", re.M)  # fmt: skip
    hits = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in python_sources() for m in pattern.finditer(p.read_text())]
    assert not hits, hits


def test_f20_lua_scripts_are_constant_files_and_payloads_opaque_to_lua() -> None:
    lua = ROOT / "src" / "backends" / "queue_redis" / "lua"
    common = (lua / "_common.lua").read_text()
    for script in scripts.all_scripts():
        # the script's file, preceded by helpers cut verbatim out of _common.lua
        helpers, body = script.source.split("\n\n-- " + script.name + ".lua", 1)
        assert "-- " + script.name + ".lua" + body == (lua / f"{script.name}.lua").read_text()
        for helper in helpers.split("\n", 1)[1].split("\n\n"):
            assert helper in common, script.name
    for path in lua.glob("*.lua"):
        text = path.read_text()
        for decoder in ("cjson", "cmsgpack", "struct.", "loadstring", "load(", "dofile", "bit."):
            assert decoder not in text, f"{path.name} uses {decoder}: payloads stay opaque to Lua"
    # No Lua is written in Python: no string constant holds Lua calls, so no script text
    # can be assembled from input.
    for path in python_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert "redis.call" not in node.value and "redis.pcall" not in node.value, path


def test_f20_lua_looking_input_is_stored_and_run_as_data(fuzz_node: RedisNode, fuzz_client: SyncClient) -> None:
    evil = "]]..redis.call('FLUSHALL')..--"
    with fuzz_node.admin() as conn:
        before = conn.dbsize()
        info = fuzz_client.enqueue_job(Job(evil, evil.encode() + b"\x00KEYS[1]", queue="evil", unique_for=60,
                                           unique_key="KEYS[1] " + evil, headers={"KEYS[1]": evil}))  # fmt: skip
        stored = conn.hgetall(QueueKeys(PREFIX, "evil").job(info.id))
        assert stored[b"type"] == evil.encode() and stored[b"payload"] == evil.encode() + b"\x00KEYS[1]"
        assert conn.get(MARKER) == b"untouched" and conn.dbsize() > before
        check_namespace(conn, ENQUEUED | {"evil"})
