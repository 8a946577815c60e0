"""The state machines, once per runtime each, against the broker under test."""

from __future__ import annotations

import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from queue_conformance.machine import BrokerComparison, Comparison, comparison_machine
from queue_conformance.machine_operations import OperationsComparison
from queue_conformance.plugin import OpenBroker


@pytest.mark.parametrize("machine", [BrokerComparison, OperationsComparison], ids=["core", "operations"])
def test_driver_agrees_with_reference_model(
    machine: type[Comparison], anyio_backend: str, conformance_open_broker: OpenBroker, conformance_settings: settings
) -> None:
    with start_blocking_portal(anyio_backend) as portal:
        bound = comparison_machine(portal, conformance_open_broker, machine)
        run_state_machine_as_test(bound, settings=conformance_settings)
