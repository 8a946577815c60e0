"""A dashboard running for real, for the browser tests and ``make screenshots``.

``Site`` runs an event loop in a background thread (an anyio blocking portal, asyncio or
trio), serves the dashboard there with hypercorn on a free loopback port, and lets the
test thread call into that loop (``site.call``) to enqueue, run workers and read state.
``populate`` fills a broker with a scenario: queues with jobs in every state, failures
with tracebacks, groups, a schedule, results, and an hour of metrics history.
``chromium`` launches Debian's Chromium through Playwright, installing the package when
it is missing and we are root (as ``make test`` does for redis-server).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from queue_core import (
    HISTOGRAM_SLOTS,
    Client,
    Delivery,
    Job,
    Manager,
    MinuteMetrics,
    Scheduler,
    SkipRetry,
    Worker,
    minute_of,
    open_broker,
)
from queue_core.dashboard import create_app
from queue_core.dashboard.server import serve
from queue_core.metrics import METRICS_KEEP, histogram_slot
from tests.redis_server import free_port

T = TypeVar("T")
#: the scenario's workers fail jobs on purpose; their log would only be noise.
QUIET = logging.getLogger("queue_core.tests.dashboard_site")
QUIET.propagate = False
QUIET.addHandler(logging.NullHandler())

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS = "<script>document.title='owned'</script><img src=x onerror=\"document.title='owned'\">"


def chromium_path() -> str:
    """Debian's chromium; as root, installed when missing."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        print("chromium not found; installing Debian's chromium package", flush=True)
        if subprocess.run(install, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
        found = shutil.which("chromium")
        if found:
            return found
    raise RuntimeError("chromium is not installed: apt-get install chromium")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright's sync API)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Site:
    """The dashboard served from a background event loop; see the module docstring."""

    def __init__(self, portal: BlockingPortal, url: str, port: int, **app_options: Any) -> None:
        self.portal = portal
        self.url = url
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.manager = Manager(url)
        self.app_options = app_options
        self._stop = anyio.Event()
        self._served: Any = None
        self._workers: list[tuple[Worker, Any]] = []

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.portal.call(fn, *args)

    def start(self) -> None:
        self.call(self.manager.open)
        self._stop = self.call(_new_event)
        app = create_app(self.manager, **self.app_options)
        self._served = self.portal.start_task_soon(
            functools.partial(serve, app, "127.0.0.1", self.port, stop=self._stop)
        )
        self.call(_wait_listening, self.port)

    def start_worker(self, worker: Worker) -> None:
        future = self.portal.start_task_soon(worker.run)
        self._workers.append((worker, future))
        self.call(_wait_worker_listed, self.manager, worker.id)

    def stop_workers(self) -> None:
        for worker, future in self._workers:
            self.portal.call(_stop_worker, worker)
            future.result(timeout=30)
        self._workers.clear()

    def close(self) -> None:
        self.stop_workers()
        self.portal.call(self._stop.set)
        if self._served is not None:
            self._served.result(timeout=30)
        self.call(self.manager.aclose)


async def _new_event() -> anyio.Event:
    return anyio.Event()


async def _stop_worker(worker: Worker) -> None:
    worker.stop()


async def _wait_listening(port: int) -> None:
    with anyio.fail_after(20):
        while True:
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.02)
            else:
                await stream.aclose()
                return


async def _wait_worker_listed(manager: Manager, worker_id: str) -> None:
    with anyio.fail_after(20):
        while worker_id not in {w.id for w in await manager.list_workers()}:
            await anyio.sleep(0.02)


@contextmanager
def running_site(url: str | None = None, *, backend: str = "asyncio", **app_options: Any) -> Iterator[Site]:
    """A ``Site`` on ``url`` (default: a private memory:// broker), closed on exit."""
    url = url or f"memory://site{secrets.token_hex(4)}"
    with start_blocking_portal(backend) as portal:
        site = Site(portal, url, free_port(), **app_options)
        site.start()
        try:
            yield site
        finally:
            site.close()


# --------------------------------------------------------------------------- the scenario


def _failing_render(delivery: Delivery) -> None:
    raise ValueError(f"template 'invoice.html' line 42: unknown variable 'customer.vat' (job {delivery.id})")


async def populate(url: str, *, history_minutes: int = 60) -> dict[str, str]:
    """Fill the broker at ``url`` with the scenario; returns IDs the tests look for."""
    ids: dict[str, str] = {}
    broker = await open_broker(url)
    try:
        async with Client(broker) as client:
            await client.enqueue_many(
                [
                    Job.create("email.send", {"to": f"user{i}@example.com", "template": "welcome", "locale": "en"},
                               queue="emails")
                    for i in range(57)
                ]
            )  # fmt: skip
            for i in range(4):
                await client.enqueue("email.digest", {"user": i}, queue="emails", delay=600 + 90 * i)
            for i in range(6):
                await client.enqueue("report.render", {"report": f"invoice-{1000 + i}", "pages": 3 + i},
                                     queue="reports", max_retries=5)  # fmt: skip
            for i in range(3):
                await client.enqueue("image.resize", {"image": f"s3://bucket/raw/{i}.png", "sizes": [64, 256]},
                                     queue="media")  # fmt: skip
            for i in range(4):
                await client.enqueue("thumbs.make", {"image": i}, queue="media", retention=3600)
            for user in ("alice", "bob"):
                for i in range(3 if user == "alice" else 5):
                    await client.enqueue("notify.batch", {"user": user, "event": i}, queue="notifications",
                                         group=f"digest-{user}")  # fmt: skip
            ids["pending"] = (await client.enqueue("email.send", {"to": "vip@example.com"}, queue="emails")).job_id
        # A worker that fails some jobs, archives others and completes the rest; then stops.
        worker = Worker(broker, queues={"reports": 1, "media": 1}, concurrency=4, shutdown_timeout=0, logger=QUIET)
        worker.register("report.render", _async(_failing_render))

        async def resize(delivery: Delivery) -> None:
            raise SkipRetry("source image is 0 bytes: s3 returned an empty object")

        async def thumbs(delivery: Delivery) -> dict[str, Any]:
            return {"thumbnails": ["64.webp", "256.webp"], "bytes": 18234}

        worker.register("image.resize", resize)
        worker.register("thumbs.make", thumbs)
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            async with Manager(broker) as manager:
                with anyio.fail_after(30):
                    while True:
                        reports = await manager.queue_info("reports")
                        media = await manager.queue_info("media")
                        if reports.retry == 6 and media.archived == 3 and media.completed == 4:
                            break
                        await anyio.sleep(0.05)
                ids["archived"] = (await manager.list_jobs("media", "archived"))[0].id
                ids["retry"] = (await manager.list_jobs("reports", "retry"))[0].id
            worker.stop()
        await record_history(broker, history_minutes)
    finally:
        await broker.close()
    return ids


def _async(fn: Callable[[Delivery], Any]) -> Callable[[Delivery], Awaitable[Any]]:
    async def handler(delivery: Delivery) -> Any:
        return fn(delivery)

    return handler


async def record_history(broker: Any, minutes: int) -> None:
    """Metrics for the last ``minutes`` minutes as busy workers would have recorded them
    (a daily rhythm with a burst of failures), so the charts have something to show."""
    latest = minute_of(time.time())
    samples = []
    for back in range(minutes):
        minute = latest - 60 * back
        for queue, job_type, base, seconds in (
            ("emails", "email.send", 40, 0.08),
            ("reports", "report.render", 6, 1.8),
            ("media", "image.resize", 12, 0.4),
        ):
            wave = 1 + 0.6 * math.sin(back / 9) + 0.3 * math.sin(back / 2.3)
            processed = max(0, int(base * wave))
            failed = processed // 4 if job_type == "report.render" and 12 <= back <= 20 else processed // 25
            slots = [0] * HISTOGRAM_SLOTS
            slots[histogram_slot(seconds)] += processed - processed // 10
            slots[histogram_slot(seconds * 4)] += processed // 10
            samples.append(
                MinuteMetrics(queue, job_type, minute, processed, failed, int(processed * seconds * 1e6), tuple(slots))
            )
    await broker.record_metrics(samples, time.time(), METRICS_KEEP)


async def run_scheduler(url: str) -> Scheduler:
    scheduler = Scheduler(url)
    scheduler.register_cron("nightly-invoices", "0 2 * * *", "report.render", {"report": "nightly"}, queue="reports")
    scheduler.register_periodic("digest-every-5m", 300, "email.digest", {"all": True}, queue="emails")
    return scheduler
