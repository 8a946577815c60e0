"""The server report (``Broker.server_info``) read from Redis' ``INFO`` and, on a Cluster,
``CLUSTER SLOTS``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from redis.crc import key_slot

from queue_core import QueueLocation, ServerReport
from queue_redis import codec

#: INFO fields an operator looks at that the report has no field of its own for.
DETAILS = (
    "redis_mode", "role", "uptime_in_seconds", "connected_clients", "used_memory_human", "maxmemory_human",
    "os", "tcp_port",
)  # fmt: skip


def from_info(info: Mapping[str, Any], locations: tuple[QueueLocation, ...] | None = None) -> ServerReport:
    """``INFO`` (parsed by redis-py into field -> value) as a report. A ``maxmemory`` of 0
    means no limit."""
    version = info.get("valkey_version") or info.get("redis_version")
    limit = int(info.get("maxmemory") or 0)
    used = info.get("used_memory")
    policy = info.get("maxmemory_policy")
    return ServerReport(
        backend=str(info.get("server_name") or "redis"),
        version=None if version is None else str(version),
        is_cluster=bool(info.get("cluster_enabled")),
        queue_locations=locations,
        eviction_policy=None if policy is None else str(policy),
        memory_used=None if used is None else int(used),
        memory_limit=limit or None,
        details={name: str(info[name]) for name in DETAILS if name in info},
    )


def queue_locations(queues: Iterable[tuple[str, str]], slots_reply: Any) -> tuple[QueueLocation, ...]:
    """Each (queue, its hash-tagged base key) located on the nodes that ``CLUSTER SLOTS``
    names for its slot (every key of a queue shares the base's ``{queue}`` hash tag)."""
    owners = slot_owners(slots_reply)
    located = []
    for queue, base in sorted(queues):
        slot = key_slot(base.encode())
        nodes = next((nodes for low, high, nodes in owners if low <= slot <= high), ())
        located.append(QueueLocation(queue, slot, nodes))
    return tuple(located)


def slot_owners(reply: Any) -> list[tuple[int, int, tuple[str, ...]]]:
    """``CLUSTER SLOTS`` as (first slot, last slot, ("host:port", primary first)); redis-py
    hands it over raw (asyncio) or parsed into a dict (sync)."""
    if isinstance(reply, dict):
        return [
            (int(low), int(high), tuple(f"{codec.text(h)}:{p}" for h, p in [owner["primary"], *owner["replicas"]]))
            for (low, high), owner in reply.items()
        ]
    return [
        (int(low), int(high), tuple(f"{codec.text(node[0])}:{int(node[1])}" for node in nodes))
        for low, high, *nodes in reply
    ]
