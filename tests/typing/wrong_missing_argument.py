from queue_core import Client
from tests.typing.tasks_defined import send_email


async def produce(client: Client) -> None:
    await send_email.enqueue(client, "a@example.com")
