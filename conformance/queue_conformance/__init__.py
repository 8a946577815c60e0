"""The queue-core conformance kit: hold any broker driver to the Broker protocol.

Run it with ``pytest --pyargs queue_conformance --broker URL`` (see docs/conformance.md).

- ``model``: the reference broker, the spec as plain Python (the oracle).
- ``machine``: the Hypothesis state machine comparing a driver with the model.
- ``strategies``: valid jobs, settlements, time steps, invalid job arguments.
- ``plugin``: the pytest plugin (``--broker``, ``--conformance-examples``, fixtures).
- ``test_*``: the kit's tests, collected by ``--pyargs``.

This module imports nothing: the pytest plugin loads with every pytest session of a
project that has queue-core installed, and must stay cheap and free of Hypothesis.
"""
