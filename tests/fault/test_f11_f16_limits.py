"""F11 memory limits and eviction policies, F16 huge payloads."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

from queue_core import BrokerError, PayloadTooLarge, SyncClient
from tests.fault.nodes import RedisNode
from tests.fault.scenario import Scenario

# --------------------------------------------------------------------------- F11


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru", "noeviction"])
def test_f11_the_worker_warns_at_start_about_an_evicting_policy(scenario: Callable[..., Scenario], policy: str) -> None:
    node = RedisNode(args=["--maxmemory", "64mb", "--maxmemory-policy", policy]).start()
    try:
        s = scenario("F11", node)
        w = s.worker()
        # The check runs beside the worker's loops (it must not delay the start).
        deadline = time.monotonic() + (5.0 if policy != "noeviction" else 1.5)
        while "maxmemory-policy is" not in w.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        warned = "maxmemory-policy is" in w.log()
        s.verdict(policy=policy, warned=warned, check_fsck=False)
        assert warned is (policy != "noeviction"), w.log()[-2000:]
    finally:
        node.close()


def test_f11_under_noeviction_a_full_redis_refuses_enqueues_loudly_and_keeps_its_structure(
    scenario: Callable[..., Scenario],
) -> None:
    """At maxmemory, an enqueue fails with a BrokerError (never a false success) and
    writes nothing; the workers still take and finish what is stored (that frees memory),
    and the structure stays whole."""
    node = RedisNode(args=["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"]).start()
    try:
        s = scenario("F11", node)
        big = {"ms": 0, "kind": "ok", "pad": "x" * 20_000}
        refused = 0
        stored: list[str] = []
        with SyncClient(node.url, broker_options={"prefix": s.prefix}) as client:
            for i in range(400):
                job_id = f"F11-{i:05d}"
                try:
                    client.enqueue("work", big, job_id=job_id, retention=0)
                except BrokerError as exc:
                    assert "OOM" in str(exc) or "maxmemory" in str(exc), exc
                    refused += 1
                    if refused >= 5:
                        break
                else:
                    stored.append(job_id)
        assert refused, "the 4 MB Redis never filled up"
        # Nothing half-written by a refused enqueue: every job hash is one we were told of.
        jobs = {k.decode().rsplit(":", 1)[1] for k in s.admin.scan_iter(match=f"{s.prefix}:*:j:*")}
        assert jobs == set(stored)
        w = s.worker()
        s.wait_until(lambda: s.counts()["pending"] == 0, 30, "the stored jobs drained")
        s.quiesce()
        used = s.admin.info("memory")["used_memory"]
        row = s.verdict(expect_completed=[], enqueue_refused=refused, stored=len(stored), used_memory_after=used)
        assert len(s.entries()) >= 2 * len(stored)
        assert row["fsck_violations"] == 0
        assert w.alive()
    finally:
        node.close()


# --------------------------------------------------------------------------- F16

SIZES = {"1KiB": 1024, "512KiB": 512 * 1024, "1MiB": 1024 * 1024, "8MiB": 8 * 1024 * 1024, "100MiB": 100 * 1024 * 1024}


def test_f16_huge_payloads_are_refused_at_enqueue_before_any_redis_call(
    scenario: Callable[..., Scenario], node: RedisNode
) -> None:
    s = scenario("F16", node)
    conn = node.admin()
    results = {}
    with SyncClient(node.url, broker_options={"prefix": s.prefix}) as client:
        client.enqueue("warm-up", None, queue="other")
        for name, size in SIZES.items():
            payload = os.urandom(size // 2).hex()[: size - 2]  # JSON string: size bytes with quotes
            before = int(conn.info("stats")["total_commands_processed"])
            try:
                info = client.enqueue("work", payload, retention=3600)
            except PayloadTooLarge as exc:
                after = int(conn.info("stats")["total_commands_processed"])
                # only our own INFO call in between: the broker was never called
                results[name] = ("refused", exc.size, after - before - 1)
                continue
            stored = conn.hget(f"{s.prefix}:{{default}}:j:{info.id}", "payload")
            assert stored == f'"{payload}"'.encode(), f"{name} did not round-trip byte-exact"
            results[name] = ("stored", len(stored), 0)
    s.verdict(expect_completed=[], check_fsck=False, sizes=results)
    assert {name: r[0] for name, r in results.items()} == {
        "1KiB": "stored", "512KiB": "stored", "1MiB": "stored", "8MiB": "refused", "100MiB": "refused",
    }  # fmt: skip
    assert all(r[2] == 0 for r in results.values()), results


def test_f16_small_jobs_keep_flowing_beside_1_mib_payloads(scenario: Callable[..., Scenario], node: RedisNode) -> None:
    s = scenario("F16", node)
    s.start_workers(2)
    big = [(f"F16-big-{i}", {"ms": 0, "kind": "ok", "pad": "y" * (1024 * 1024 - 100)}) for i in range(20)]
    small = s.jobs(200, lambda rng: {"ms": 0, "kind": "ok"})
    s.produce(big, rate=20)
    producer = s.produce(small, rate=100)
    producer.wait()
    s.quiesce()
    starts = {e.job_id: e.at for e in s.entries() if e.kind == "S"}
    pickup = sorted(starts[j] - producer.ack_times[j] for j in producer.acked)
    row = s.verdict(small_pickup_p99_ms=round(1000 * pickup[int(0.99 * (len(pickup) - 1))], 1))
    s.assert_clean(row)


def test_f16_the_limit_is_checked_for_every_job_of_a_bulk_enqueue_before_the_first_chunk() -> None:
    from queue_core import Job, ValidationError

    with SyncClient("memory://", max_payload_bytes=100, broker_options={"prefix": "f16bulk"}) as client:
        jobs = [Job("work", b"x" * 10), Job("work", b"x" * 101)]
        with pytest.raises(PayloadTooLarge) as caught:
            client.enqueue_many(jobs, chunk_size=1)
        assert (caught.value.size, caught.value.limit) == (101, 100)
        assert isinstance(caught.value, ValidationError)
        assert client.client.broker is not None
    with pytest.raises(ValidationError):
        SyncClient("memory://", max_payload_bytes=0)
    with SyncClient("memory://", max_payload_bytes=None, broker_options={"prefix": "f16none"}) as client:
        client.enqueue_job(Job("work", b"x" * (2 * 1024 * 1024)))
