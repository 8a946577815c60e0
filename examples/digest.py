"""Batching: many notification jobs become one digest email per user.

Each notification is enqueued with ``group=<user>``, so it waits in that user's group
instead of running on its own. An ``Aggregator`` turns a group into one ``email.digest``
job as soon as it holds 10 notifications, or once nobody has added to it for a second
(``grace=1``); a ``Worker`` next to it sends the digests.

``python examples/digest.py`` (add ``QUEUE_URL=redis://...`` to use Redis).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import anyio

from queue_core import Aggregator, Client, Delivery, GroupMember, Job, Worker, open_broker

URL = os.environ.get("QUEUE_URL", "memory://")
QUEUE = "notifications"
#: user -> how many notifications they get; bob's 12 make a full digest of 10 and one of 2.
ACTIVITY = {"ada": 3, "bob": 12, "cy": 1}
DIGESTS = 4


@dataclass
class Notification:
    text: str


def build_digest(user: str, notes: list[GroupMember]) -> Job:
    """The aggregator: one user's pending notifications (oldest first) -> one email job."""
    lines = [note.decode(Notification).text for note in notes]
    return Job.create("email.digest", {"to": f"{user}@example.com", "lines": lines})


async def main() -> None:
    broker = await open_broker(URL)
    try:
        worker = Worker(broker, queues=[QUEUE], shutdown_timeout=2)
        aggregator = Aggregator(broker, [QUEUE], build_digest, grace=1, max_size=10)
        sent: list[str] = []

        @worker.handler("email.digest")
        async def send_digest(delivery: Delivery) -> None:
            email = delivery.decode(dict)
            print(f"  to {email['to']}: {len(email['lines'])} notification(s), first: {email['lines'][0]!r}")
            sent.append(email["to"])
            if len(sent) == DIGESTS:
                worker.stop()

        async with Client(broker) as client:
            for user, count in ACTIVITY.items():
                for n in range(1, count + 1):
                    await client.enqueue("notify", {"text": f"{user}: event {n}"}, queue=QUEUE, group=user)
        total = sum(ACTIVITY.values())
        print(f"enqueued {total} notifications for {len(ACTIVITY)} users; aggregating into digests")

        async with anyio.create_task_group() as tg:
            await tg.start(aggregator.run)
            await worker.run()  # returns once every digest is sent (worker.stop())
            tg.cancel_scope.cancel()
        print(f"sent {len(sent)} digest emails for {total} notifications")
    finally:
        await broker.close()


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    anyio.run(main)
