"""F19: AUTH, a least-privilege ACL user, TLS. The smoke suite -- a worker process, a
producer, scheduled jobs, the Manager's view -- must pass in each mode, and refused
credentials must come back as a typed error.

The ACL rule below is the one docs/guarantees.md documents: keys and channels of the
prefix only, and only the commands queue-core sends (directly or from its Lua scripts,
where ACLs apply too).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable

import anyio
import pytest
import redis

from queue_core import BrokerAuthError, Manager, SyncClient
from tests.fault.nodes import RedisNode, make_certificates
from tests.fault.scenario import Scenario

#: What queue-core needs: connection, clock, scripts (EVALSHA; EVAL after a restart
#: emptied the script cache), notifications, and the plain commands of the broker and
#: its scripts. INFO only serves the worker's eviction-policy check and Manager.server_info,
#: MEMORY USAGE only the Manager's memory estimate (queue_info).
ACL_COMMANDS = (
    "+ping +hello +select +time +info +memory|usage +evalsha +eval +publish +subscribe +unsubscribe "
    "+del +exists +expire +pexpire +get +set +type +incr +incrby "
    "+hdel +hget +hgetall +hincrby +hmget +hset +hsetnx "
    "+lindex +llen +lpush +lrange +lrem +ltrim +rpop +rpush "
    "+sadd +sismember +smembers +srem "
    "+zadd +zcard +zrange +zrem +zremrangebyrank +zremrangebyscore +zrevrange +zscore"
)


def acl_rule(prefix: str, password: str) -> list[str]:
    return ["reset", "on", f">{password}", f"~{prefix}:*", f"&{prefix}:*", "-@all", *ACL_COMMANDS.split()]


def smoke(s: Scenario, url: str) -> dict[str, object]:
    """A worker, 40 jobs (10 of them delayed), the Manager's view of it all."""
    s.worker_url = url
    s.url = url
    s.worker()
    s.produce_now(s.jobs(30, lambda rng: {"ms": 5, "kind": "ok"}))
    s.produce_now(s.jobs(10, lambda rng: {"ms": 5, "kind": "ok"}, start=100), delay=0.5)
    s.quiesce(30)

    async def view() -> dict[str, object]:
        async with Manager(f"{url}{'&' if '?' in url else '?'}prefix={s.prefix}") as manager:
            queue = await manager.queue_info("default")
            workers = await manager.list_workers()
            history = await manager.history("default", days=1)
            return {"completed": queue.completed, "workers": len(workers), "history_days": len(history)}

    seen = anyio.run(view)
    row = s.verdict(manager_view=seen)
    s.assert_clean(row)
    assert seen["workers"] == 1, seen
    return row


def test_f19_auth_and_least_privilege_acl_user_pass_the_smoke_suite(
    scenario: Callable[..., Scenario],
) -> None:
    node = RedisNode(password="admin-secret").start()
    try:
        s = scenario("F19", node)
        with node.admin() as conn:
            conn.execute_command("ACL", "SETUSER", "qc", *acl_rule(s.prefix, "qc-secret"))
            conn.execute_command("ACL", "LOG", "RESET")
        url = f"redis://qc:qc-secret@127.0.0.1:{node.port}/0"
        smoke(s, url)
        with node.admin() as conn:
            denied = conn.execute_command("ACL", "LOG")
        assert not denied, f"the ACL refused something: {denied}"
        # The rule holds: the same user cannot touch a key outside its prefix.
        with node.admin(username="qc", password="qc-secret") as conn:
            denied_write = pytest.raises(redis.ResponseError, match=r"NOPERM|no permissions")
            with denied_write:
                conn.set("elsewhere", "x")
    finally:
        node.close()


def test_f19_wrong_credentials_are_a_typed_error(scenario: Callable[..., Scenario]) -> None:
    node = RedisNode(password="admin-secret").start()
    try:
        started = time.monotonic()
        with pytest.raises(BrokerAuthError):
            SyncClient(f"redis://:wrong@127.0.0.1:{node.port}/0").ping()
        assert time.monotonic() - started < 10
    finally:
        node.close()


def test_f19_tls_with_certificates_made_by_the_test(scenario: Callable[..., Scenario]) -> None:
    certs = make_certificates(tempfile.mkdtemp(prefix="qc-tls-"))
    node = RedisNode(tls=certs).start()
    try:
        s = scenario("F19", node)
        s.redis_mode = "single, TLS"
        url = f"rediss://127.0.0.1:{node.port}/0?ssl_ca_certs={certs.ca}&ssl_cert_reqs=required"
        smoke(s, url)
    finally:
        node.close()


def test_f19_a_command_the_acl_denies_is_a_typed_error(scenario: Callable[..., Scenario]) -> None:
    """Before the fix: NOPERM reached the user as a plain BrokerError (redis-py strips the
    code from the message the driver looked for)."""
    node = RedisNode(password="admin-secret").start()
    try:
        with node.admin() as conn:
            rule = [part for part in acl_rule("f19deny", "qc-secret") if part != "+memory|usage"]
            conn.execute_command("ACL", "SETUSER", "qc", *rule)

        with SyncClient(f"redis://qc:qc-secret@127.0.0.1:{node.port}/0", broker_options={"prefix": "f19deny"}) as c:
            c.enqueue("work", None)

        async def denied() -> None:
            async with Manager(f"redis://qc:qc-secret@127.0.0.1:{node.port}/0?prefix=f19deny") as manager:
                await manager.queue_info("default")

        with pytest.raises(BrokerAuthError) as caught:
            anyio.run(denied)
        with node.admin() as conn:
            log = conn.execute_command("ACL", "LOG")
        assert "permission" in str(caught.value), (caught.value, log)
    finally:
        node.close()
