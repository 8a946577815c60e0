"""The pytest plugin: ``--broker URL`` and the fixtures the kit's tests use.

Installed with queue-core (entry point ``pytest11: queue_conformance``), so it loads in
every pytest session of a project that has queue-core installed. It therefore stays
inert: it only adds options and ``conformance_*`` fixtures, imports neither Hypothesis
nor a driver at import time, and leaves ``anyio_backend`` alone (the kit's own
``conftest.py`` parametrizes that for the kit's tests only).

Run the whole kit against a driver::

    pytest --pyargs queue_conformance --broker redis://localhost:6379/15
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import pytest

from queue_core import Broker, Capabilities, open_broker

if TYPE_CHECKING:
    from hypothesis import settings

DEFAULT_URL = "memory://"
DEFAULT_EXAMPLES = 200
#: Steps per example of the state machine: long enough for leases to expire and jobs to
#: come round again, short enough that 200 examples run in about a minute.
STEPS = 50


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("queue_conformance", "queue-core broker conformance kit")
    group.addoption(
        "--broker",
        action="append",
        metavar="URL",
        dest="conformance_brokers",
        help=f"broker URL to run the conformance kit against; repeatable (default {DEFAULT_URL}). "
        "Each example opens the URL with a fresh namespace, so point it at a throwaway database.",
    )
    group.addoption(
        "--conformance-examples",
        type=int,
        default=DEFAULT_EXAMPLES,
        metavar="N",
        help=f"Hypothesis examples per state-machine run (default {DEFAULT_EXAMPLES}).",
    )


def broker_urls(config: pytest.Config) -> list[str]:
    urls: list[str] | None = config.getoption("conformance_brokers")
    return urls or [DEFAULT_URL]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_broker_url" in metafunc.fixturenames:
        urls = broker_urls(metafunc.config)
        metafunc.parametrize("conformance_broker_url", urls, ids=urls, scope="session")


OpenBroker = Callable[[], Awaitable[Broker]]


def fresh_broker_opener(url: str) -> OpenBroker:
    """An async factory of brokers for ``url`` that share no data with each other.

    Isolation comes from the driver option ``namespace`` (a key prefix on Redis, a schema
    on PostgreSQL: brokers of different namespaces share nothing); a driver author makes
    the kit work by accepting ``namespace=``.
    """
    from queue_conformance import reference  # the kit's own oracle, not a driver

    async def open_fresh() -> Broker:
        if url == reference.URL:
            return reference.AsyncReference()  # type: ignore[return-value]  # implements the model's subset
        return await open_broker(url, namespace=f"qc-conf-{uuid.uuid4().hex[:12]}")

    return open_fresh


@pytest.fixture(scope="session")
def conformance_open_broker(conformance_broker_url: str) -> OpenBroker:
    """``await conformance_open_broker()`` gives a new, empty broker for the URL under test."""
    return fresh_broker_opener(conformance_broker_url)


@pytest.fixture(scope="session")
def conformance_capabilities(conformance_open_broker: OpenBroker) -> Capabilities:
    """What the driver under test declares (read once, from a broker opened on asyncio)."""
    from anyio.from_thread import start_blocking_portal

    async def read() -> Capabilities:
        broker = await conformance_open_broker()
        try:
            return broker.capabilities
        finally:
            await broker.close()

    with start_blocking_portal("asyncio") as portal:
        return portal.call(read)


@pytest.fixture(scope="session")
def conformance_settings(pytestconfig: pytest.Config) -> settings:
    """Hypothesis settings for the kit: examples from ``--conformance-examples``, no
    deadline (a real broker's latency varies), a database under ``.hypothesis/`` so a
    failure replays first on the next run."""
    from hypothesis import HealthCheck, settings
    from hypothesis.database import DirectoryBasedExampleDatabase

    examples: int = pytestconfig.getoption("conformance_examples")
    return settings(
        max_examples=examples,
        stateful_step_count=STEPS,
        deadline=None,
        derandomize=False,
        database=DirectoryBasedExampleDatabase(".hypothesis/examples"),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        print_blob=True,
    )


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if config.getoption("conformance_brokers") is None:
        return None
    return [f"queue-conformance brokers: {', '.join(broker_urls(config))}"]
