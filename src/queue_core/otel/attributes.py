"""Attribute names: the messaging semantic conventions, and queue-core's own."""

from __future__ import annotations

SYSTEM = "queue_core"
MESSAGING_SYSTEM = "messaging.system"
DESTINATION = "messaging.destination.name"
MESSAGE_ID = "messaging.message.id"
OPERATION_TYPE = "messaging.operation.type"
OPERATION_NAME = "messaging.operation.name"
JOB_TYPE = "messaging.queue_core.job_type"
RETRY_COUNT = "messaging.queue_core.retry_count"
ATTEMPT = "messaging.queue_core.attempt"
SCHEDULE_ID = "messaging.queue_core.schedule_id"
