"""The queue-core conformance kit: hold any broker driver to the Broker protocol.

Run it with ``pytest --pyargs queue_conformance --broker URL`` (see docs/conformance.md).

- ``model``: the reference broker, the spec as plain Python (the oracle).
- ``machine``: the Hypothesis state machines' plumbing, and the one for enqueue,
  processing and maintenance; ``machine_operations``: the one for operator actions,
  aggregation and coordination.
- ``strategies``: valid jobs, settlements, time steps, pools for the optional concerns,
  invalid job arguments.
- ``plugin``: the pytest plugin (``--broker``, ``--conformance-examples``, fixtures).
- ``test_*``: the kit's tests, collected by ``--pyargs``.

This module imports nothing: the pytest plugin loads with every pytest session of a
project that has queue-core installed, and must stay cheap and free of Hypothesis.
"""
