"""The consumer side: a Worker runs handlers for jobs, with leases, retries and maintenance.

Public modules (names re-exported from ``queue_core``): ``worker`` (Worker), ``options`` (WorkerOptions),
``handlers`` (Group), ``delivery`` (Delivery, Progress, what a handler receives), ``middleware``,
``ratelimit`` and ``aggregation``. The underscored modules are the run's machinery, read in this
order: ``_run`` (one run: the task group of loops), ``_fetcher`` -> ``_runner`` -> ``_settler``
(one job from lease to settlement), ``_outcomes`` (what a handler's result means, pure),
``_leases``, ``_cancellation``, ``_heartbeat``, ``_maintenance``, ``_deadlines``, ``_queues``,
``_trouble`` (where the loops report an unreachable broker or a damaged queue).
"""

from queue_core.worker.options import WorkerOptions
from queue_core.worker.worker import Worker

__all__ = ["Worker", "WorkerOptions"]
