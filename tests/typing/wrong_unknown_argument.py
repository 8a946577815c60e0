from queue_core import Client
from tests.typing.tasks_defined import add


async def produce(client: Client) -> None:
    await add.enqueue(client, 1, c=2)
