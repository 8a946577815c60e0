"""Tasks the typing checks use (checked by mypy --strict, never run by pytest)."""

from __future__ import annotations

import dataclasses

from queue_core import Delivery
from queue_core.tasks import TaskRegistry

tasks = TaskRegistry()


@dataclasses.dataclass
class Receipt:
    to: str
    sent: bool


@tasks.task(name="email.send", queue="emails", max_retries=3, timeout=30)
async def send_email(to: str, subject: str, urgent: bool = False) -> Receipt:
    return Receipt(to, True)


@tasks.task(name="math.add")
def add(a: int, b: int = 1) -> int:
    return a + b


@tasks.task(name="job.attempt")
async def attempt(delivery: Delivery, note: str) -> str:
    return f"{note} {delivery.attempt}"
