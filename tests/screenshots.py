"""``make screenshots``: every dashboard page of the scenario, as PNGs in docs/images/.

Runs the scenario of ``tests/dashboard_site.py`` on a throwaway redis-server (so the
server report and memory figures are Redis') with a live worker and scheduler, and has
headless Chromium photograph each page.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio

from queue_core import Delivery, Worker
from tests.dashboard_site import chromium, populate, run_scheduler, running_site
from tests.redis_server import RedisServer

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"
WIDTH, HEIGHT = 1360, 900


async def _slow_email(delivery: Delivery) -> None:
    await anyio.sleep(2.5)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with RedisServer() as server, running_site(server.url) as site:
        ids = site.call(populate, site.url)
        scheduler = site.call(run_scheduler, site.url)
        site.portal.start_task_soon(scheduler.run)
        worker = Worker(site.url, queues={"emails": 3, "notifications": 1}, concurrency=3, shutdown_timeout=0)
        worker.register("email.send", _slow_email)
        site.start_worker(worker)
        pages: list[tuple[str, str, dict[str, Any]]] = [
            ("overview", "/", {}),
            ("queue", "/queues/emails?state=pending", {}),
            ("queue-archived", "/queues/media?state=archived", {}),
            ("queue-retry", "/queues/reports?state=retry", {}),
            ("job", f"/queues/reports/jobs/{ids['retry']}", {}),
            ("job-completed", "/queues/media?state=completed", {"open_first": True}),
            ("groups", "/queues/notifications/groups", {}),
            ("metrics", "/metrics?window=1h", {}),
            ("workers", "/workers", {}),
            ("schedules", "/schedules", {}),
            ("server", "/server", {}),
        ]
        with chromium() as browser:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            for name, path, options in pages:
                page.goto(site.base + path)
                if options.get("open_first"):
                    page.locator("#jobs tbody a").first.click()
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / f"dashboard-{name}.png"), full_page=True)
                print(f"wrote {OUT / f'dashboard-{name}.png'}")
            page.goto(site.base + "/queues/emails?state=pending")
            page.locator("[data-select-all]").check()
            page.locator("button[value='archive/selected']").click()
            page.screenshot(path=str(OUT / "dashboard-confirm.png"), full_page=True)
            print(f"wrote {OUT / 'dashboard-confirm.png'}")
        site.call(_stop_scheduler, scheduler)
    return 0


async def _stop_scheduler(scheduler: Any) -> None:
    scheduler.stop()


if __name__ == "__main__":
    sys.exit(main())
