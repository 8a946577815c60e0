"""Registers the memory:// driver with queue-core, exactly as a third-party driver would."""

from __future__ import annotations

from queue_core import hookimpl
from queue_fakeredis.broker import open_memory_broker


@hookimpl
def queue_core_add_brokers() -> dict[str, object]:
    return {"memory": open_memory_broker}
