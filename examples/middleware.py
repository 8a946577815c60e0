"""Middleware at three levels: worker (outermost), group, handler (innermost); the first
added is the outermost within a level. A middleware can time, short-circuit and turn an
error into another outcome.

    python examples/middleware.py
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from queue_core import CallNext, Client, Delivery, JobState, Manager, SkipRetry, Worker

URL = os.environ.get("QUEUE_URL", "memory://")
worker = Worker(URL, shutdown_timeout=2)
done: list[str] = []


def finish(delivery: Delivery) -> None:
    done.append(delivery.id)
    if len(done) == 3:
        worker.stop()


async def timing(delivery: Delivery, call_next: CallNext) -> Any:
    """Worker level: around every handler."""
    started = time.perf_counter()
    try:
        return await call_next(delivery)
    finally:
        print(f"[timing] {delivery.type} took {(time.perf_counter() - started) * 1000:.1f} ms")
        finish(delivery)


async def audit(delivery: Delivery, call_next: CallNext) -> Any:
    """Group level: around the billing handlers only."""
    print(f"[audit] {delivery.type} {delivery.decode()}")
    return await call_next(delivery)


CACHE = {"EUR": 1.08}


async def cached(delivery: Delivery, call_next: CallNext) -> Any:
    """Handler level: answers from the cache without running the handler."""
    currency = delivery.decode(str)
    if currency in CACHE:
        return {"rate": CACHE[currency], "cached": True}
    return await call_next(delivery)


async def permanent_errors(delivery: Delivery, call_next: CallNext) -> Any:
    """Handler level: a KeyError will never go away, so do not retry it."""
    try:
        return await call_next(delivery)
    except KeyError as exc:
        raise SkipRetry(f"unknown account {exc}") from exc


worker.use(timing)
billing = worker.group("billing").use(audit)


@billing.handler("fx.rate", middleware=[cached])
async def fx_rate(delivery: Delivery) -> dict[str, Any]:
    return {"rate": 1.27, "cached": False}


@billing.handler("invoice.send", middleware=[permanent_errors])
async def send_invoice(delivery: Delivery) -> None:
    accounts: dict[str, str] = {}
    accounts[delivery.decode(str)]  # raises KeyError


async def main() -> None:
    async with Client(URL) as client, Manager(URL) as manager:
        eur = await client.enqueue("fx.rate", "EUR", retention=60)
        gbp = await client.enqueue("fx.rate", "GBP", retention=60)
        invoice = await client.enqueue("invoice.send", "acct-42")
        await worker.run()
        for currency, job in (("EUR", eur), ("GBP", gbp)):
            print(f"rate {currency}: {(await manager.job_result('default', job.id)).decode()}")
        info = await manager.job_info("default", invoice.id)
        assert info.state is JobState.ARCHIVED
        print(f"invoice: {info.state}, retries used {info.retried}, last error {info.last_error!r}")


if __name__ == "__main__":
    asyncio.run(main())
