"""Log output: ``JsonFormatter`` (``--log-format json``) and the library's logger names.

queue-core logs through stdlib ``logging`` under one root, ``queue_core``, so an
application routes all of it, or one part, with ordinary logging configuration:

==========================  ===================================================
``queue_core.worker``       a Worker: attempts, failures, shutdown, its loops
``queue_core.client``       Client / SyncClient: failed enqueues
``queue_core.scheduler``    a Scheduler: fires, claims, config sync
``queue_core.aggregation``  the group aggregator
``queue_core.manager``      Manager: unreadable heartbeats, batch failures
``queue_core.broker``       the broker clock (offset to the server's time)
``queue_core.prometheus``   the queue metrics collector
``queue_core.cli``          the command line; ``queue_core.supervisor``: ``--processes``
==========================  ===================================================

A component given ``logger=`` logs there instead. Records about one job carry the
``extra`` fields ``job_id``, ``job_type``, ``queue`` and ``attempt``; a scheduler's carry
``schedule_id``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

#: the attributes every LogRecord has; anything else on a record came through ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: ``time`` (ISO 8601, UTC), ``level``,
    ``logger``, ``message``, ``process``, then every ``extra`` field of the record (job
    fields where they apply), and ``exception`` / ``stack`` as text when present.

    ``logging.getLogger().handlers[0].setFormatter(JsonFormatter())`` in your own
    process; ``--log-format json`` on ``queue-core worker`` and ``scheduler``.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
