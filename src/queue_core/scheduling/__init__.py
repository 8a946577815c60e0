"""Periodic jobs: a Scheduler enqueues jobs on cron or interval schedules, once per tick across replicas.

Public modules (names re-exported from ``queue_core``): ``scheduler`` (Scheduler,
list_schedules, schedule_history), ``options`` (SchedulerOptions), ``config`` (ScheduleConfig,
ConfigProvider, ScheduleEntry) and ``records`` (FireRecord, ScheduleInfo: what a scheduler
writes to the broker). The underscored modules are internal: ``_spec`` (cron and interval
specs, time zones, pure) and ``_fire`` (claiming and enqueueing one tick).
"""

from queue_core.scheduling.options import SchedulerOptions
from queue_core.scheduling.scheduler import Scheduler

__all__ = ["Scheduler", "SchedulerOptions"]
