"""Makes the kit's fixtures visible to the kit's own test modules (and nowhere else)."""

from queue_conformance.requirements import require_kit_dependencies

require_kit_dependencies()

# After the check, so that a missing extra is named instead of failing on an import.
from queue_conformance.fixtures import anyio_backend, broker, clock  # noqa: E402

__all__ = ["anyio_backend", "broker", "clock"]
