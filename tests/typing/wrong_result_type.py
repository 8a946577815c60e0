from queue_core import Client
from tests.typing.tasks_defined import add


async def produce(client: Client) -> str:
    job = await add.enqueue(client, 1)
    return await job.result()
