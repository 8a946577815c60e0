"""The state machine, once per runtime, against the broker under test."""

from __future__ import annotations

from anyio.from_thread import start_blocking_portal
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from queue_conformance.machine import comparison_machine
from queue_conformance.plugin import OpenBroker


def test_driver_agrees_with_reference_model(
    anyio_backend: str, conformance_open_broker: OpenBroker, conformance_settings: settings
) -> None:
    with start_blocking_portal(anyio_backend) as portal:
        machine = comparison_machine(portal, conformance_open_broker)
        run_state_machine_as_test(machine, settings=conformance_settings)
