from queue_core import Client, Delivery
from tests.typing.tasks_defined import attempt


async def produce(client: Client, delivery: Delivery) -> None:
    await attempt.enqueue(client, delivery, "x")
