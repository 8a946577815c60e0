from queue_core import SyncClient
from tests.typing.tasks_defined import add


async def produce(client: SyncClient) -> None:
    await add.enqueue(client, 1)
