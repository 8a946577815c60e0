"""Makes the kit's fixtures visible to the kit's own test modules (and nowhere else)."""

from queue_conformance.fixtures import anyio_backend, broker, clock

__all__ = ["anyio_backend", "broker", "clock"]
