"""The ``queue-core`` command line (also ``python -m queue_core``): a thin layer over the
public API, one module per command or command group.

- ``worker`` / ``scheduler`` run a Worker or Scheduler named ``module:attribute``
  (``loading``), ``worker --processes N`` under a ``supervisor``;
- ``enqueue`` uses a Client; ``stats``, ``top``, ``queue``, ``job``, ``group``, ``cron``,
  ``workers`` and ``server`` use a Manager;
- ``common`` runs each command's async body on asyncio or trio, ``failures`` turns errors
  into one line and an exit code, ``output`` prints tables and JSON.
"""

from queue_core.cli.root import cli, main

__all__ = ["cli", "main"]
