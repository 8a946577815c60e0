"""Fixtures for the kit's async tests: the runtime, a fresh broker, a manual clock.

The kit's ``conftest.py`` re-exports them, so they apply to the kit's tests only. A
driver's own test suite can run the kit's tests in-tree the same way: a ``conftest.py``
that imports these fixtures, next to test modules that star-import the kit's tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib.util import find_spec

import pytest

from queue_conformance.plugin import OpenBroker
from queue_conformance.strategies import START
from queue_core import Broker, Capabilities, ManualClock

BACKENDS = ("asyncio", "trio")


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest, conformance_capabilities: Capabilities) -> str:
    """Every test on every runtime the driver declares (``Capabilities.async_backends``)."""
    backend: str = request.param
    if backend not in conformance_capabilities.async_backends:
        pytest.skip(
            f"{conformance_capabilities.name} declares async_backends={sorted(conformance_capabilities.async_backends)}"
        )
    if find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (pip install 'queue-core[{backend}]')")
    return backend


@pytest.fixture
async def broker(conformance_open_broker: OpenBroker, anyio_backend: str) -> AsyncIterator[Broker]:
    """A new, empty broker for the URL under test, closed after the test."""
    opened = await conformance_open_broker()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)
