"""Transactional enqueue: an order row and the job that emails its receipt are written in
one PostgreSQL transaction, so the job exists exactly when the order does.

    POSTGRES_URL=postgresql://user@localhost:5432/app python examples/transactional_enqueue.py

The queue lives in the schema ``?schema=`` names (here ``qc_example``), beside the
application's own table ``example_orders`` in the same database.
"""

from __future__ import annotations

import os

import anyio
import psycopg

from queue_core import Client, Delivery, Worker

DATABASE = os.environ.get("POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
QUEUE_URL = DATABASE + ("&" if "?" in DATABASE else "?") + "schema=qc_example"


class PaymentDeclined(Exception):
    pass


async def place_order(client: Client, conn: psycopg.AsyncConnection[object], order_id: int, pay: bool) -> None:
    """The application's transaction: the order row, then the job. A failure after the
    enqueue (a declined payment) rolls back both."""
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO example_orders (id, total) VALUES (%s, %s)", (order_id, 42))
            await client.enqueue("receipt.send", {"order": order_id}, job_id=f"receipt-{order_id}", connection=conn)
            if not pay:
                raise PaymentDeclined(order_id)
        print(f"order {order_id}: committed with its receipt job")
    except PaymentDeclined:
        print(f"order {order_id}: payment declined, rolled back (no order, no job)")


async def main() -> None:
    sent = []
    worker = Worker(QUEUE_URL, concurrency=2, shutdown_timeout=2)

    @worker.handler("receipt.send")
    async def send_receipt(delivery: Delivery) -> None:
        order = delivery.decode(dict)["order"]
        sent.append(order)
        print(f"worker: sent the receipt of order {order}")

    async with await psycopg.AsyncConnection.connect(DATABASE, autocommit=True) as conn:
        await conn.execute("DROP TABLE IF EXISTS example_orders")
        await conn.execute("CREATE TABLE example_orders (id integer PRIMARY KEY, total integer)")
        async with Client(QUEUE_URL) as client, anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await place_order(client, conn, 1, pay=True)
            await place_order(client, conn, 2, pay=False)
            await client.wait([f"receipt-{1}"], timeout=30)
            worker.stop()
        orders = [row[0] for row in await (await conn.execute("SELECT id FROM example_orders ORDER BY id")).fetchall()]
        print(f"orders stored: {orders}; receipts sent: {sent}")
        await conn.execute("DROP TABLE example_orders")


if __name__ == "__main__":
    anyio.run(main)
