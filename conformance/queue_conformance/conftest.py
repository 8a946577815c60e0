"""Makes the kit's fixtures visible to the kit's own test modules (and nowhere else)."""

import pytest

from queue_conformance.requirements import require_kit_dependencies

require_kit_dependencies()

# After the check, so that a missing extra is named instead of failing on an import.
from queue_conformance.fixtures import anyio_backend, broker, clock  # noqa: E402

__all__ = ["anyio_backend", "broker", "clock"]


#: pytest-timeout's per-test limit is a hang guard sized for ordinary tests. A state
#: machine's work is fixed and CPU-bound (examples x steps, about a minute at the default 200
#: examples on an idle machine, seven times that with the two cores shared by a dozen busy
#: processes): on a loaded machine it runs slower, it does not hang. Its
#: guard is sized to its work instead, so that a busy CI host does not fail a sound driver.
SECONDS_PER_MACHINE_EXAMPLE = 6.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.pluginmanager.hasplugin("timeout"):
        return
    examples: int = config.getoption("conformance_examples")
    limit = max(120.0, examples * SECONDS_PER_MACHINE_EXAMPLE)
    for item in items:
        if item.name.startswith("test_driver_agrees_with_reference_model"):
            item.add_marker(pytest.mark.timeout(limit))
