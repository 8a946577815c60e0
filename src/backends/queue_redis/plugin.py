"""Registers the Redis driver with queue-core, exactly as a third-party driver would."""

from __future__ import annotations

from queue_core import hookimpl
from queue_redis.broker import RedisBroker


@hookimpl
def queue_core_add_brokers() -> dict[str, object]:
    schemes = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel")
    return {scheme: RedisBroker.from_url for scheme in schemes}
