"""Invalid input is refused with the specific ``ValidationError`` before anything is written."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from queue_conformance.helpers import T0, enqueue, job
from queue_conformance.strategies import InvalidInput, invalid_inputs
from queue_core import Broker, QueueNotFound, ValidationError, errors


def _cases() -> list[InvalidInput]:
    """One case per rule, so a failure names the rule; the property test explores around them."""
    return [
        InvalidInput("type", {"type": ""}, errors.InvalidJobType),
        InvalidInput("type", {"type": "a\nb"}, errors.InvalidJobType),
        InvalidInput("queue", {"queue": "orders{x}"}, errors.InvalidQueueName),
        InvalidInput("queue", {"queue": "}"}, errors.InvalidQueueName),
        InvalidInput("queue", {"queue": ""}, errors.InvalidQueueName),
        InvalidInput("queue", {"queue": "-leading"}, errors.InvalidQueueName),
        InvalidInput("queue", {"queue": "q" * 129}, errors.InvalidQueueName),
        InvalidInput("job_id", {"job_id": "{id}"}, errors.InvalidJobId),
        InvalidInput("job_id", {"job_id": "has space"}, errors.InvalidJobId),
        InvalidInput("group", {"group": "g{1}"}, errors.InvalidGroupName),
        InvalidInput("payload", {"payload": "text"}, errors.InvalidPayload),
        InvalidInput("headers", {"headers": {"": "v"}}, errors.InvalidHeaders),
        InvalidInput("max_retries", {"max_retries": -1}, errors.InvalidMaxRetries),
        InvalidInput("max_retries", {"max_retries": True}, errors.InvalidMaxRetries),
        InvalidInput("delay", {"delay": -1}, errors.InvalidSchedule),
        InvalidInput("schedule_at", {"schedule_at": float("nan")}, errors.InvalidSchedule),
        InvalidInput("deadline", {"deadline": -5}, errors.InvalidDeadline),
        InvalidInput("timeout", {"timeout": 0}, errors.InvalidTimeout),
        InvalidInput("retention", {"retention": -1}, errors.InvalidRetention),
        InvalidInput("unique_for", {"unique_for": 0}, errors.InvalidUniqueOption),
        InvalidInput("unique_key", {"unique_key": "k"}, errors.InvalidUniqueOption),
    ]


def _refused(case: InvalidInput) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        case.build()
    assert type(caught.value) is case.error, f"{case.arguments}: got {type(caught.value).__name__}"
    assert caught.value.field.split("[")[0] == case.field  # "headers['x']" names one header
    return caught.value


@pytest.mark.parametrize("case", _cases(), ids=lambda case: f"{case.field}={case.arguments[case.field]!r}"[:60])
def test_each_invalid_argument_raises_its_own_error(case: InvalidInput) -> None:
    message = str(_refused(case))
    assert case.field in message and "expected" in message, f"the message should name the field and the form: {message}"


@settings(max_examples=300, deadline=None)
@given(invalid_inputs())
def test_any_invalid_argument_raises_its_own_error(case: InvalidInput) -> None:
    _refused(case)


@pytest.mark.anyio
async def test_a_batch_with_an_invalid_job_writes_nothing(broker: Broker) -> None:
    """Validation happens while building the batch, so the broker never sees a partial one."""
    for case in _cases():
        with pytest.raises(case.error):
            await enqueue(broker, job("valid", queue="fine"), case.build())
    assert await broker.list_queues() == []
    with pytest.raises(QueueNotFound):
        await broker.queue_stats("fine", T0)
