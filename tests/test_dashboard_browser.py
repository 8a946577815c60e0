"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright.

Each test serves the dashboard from a background event loop (asyncio and trio, through
hypercorn) on a private memory:// broker, and acts as an operator would: open the
overview, page through a queue, open a job, retry an archived job and watch it run,
pause and resume, confirm a bulk delete, and watch the counts fall while a worker
drains the queue, without reloading.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from queue_core import Client, Delivery, Job, JobState, Worker
from tests.dashboard_site import QUIET, XSS, Site, chromium, running_site

WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(params=["asyncio", "trio"])
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    with running_site(backend=request.param, refresh=0.5) as served:
        yield served


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    problems: list[str] = []
    opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.problems = problems
    try:
        yield opened
    finally:
        context.close()
    # No CSP violation, no script error on any page a test visited.
    assert problems == []


def enqueue(site: Site, jobs: list[Job]) -> list[str]:
    async def go() -> list[str]:
        async with Client(site.url) as client:
            return [outcome.job_id for outcome in await client.enqueue_many(jobs)]

    return site.call(go)


def state_of(site: Site, queue: str, job_id: str) -> JobState:
    async def go() -> JobState:
        return (await site.manager.job_info(queue, job_id)).state

    return site.call(go)


def test_overview_then_a_queue_page_by_page_then_a_job(site: Site, page: Any) -> None:
    ids = enqueue(site, [Job.create("email.send", {"n": i}, queue="mail") for i in range(60)])
    page.goto(site.base + "/")
    row = page.locator("tr[data-queue=mail]")
    assert row.locator("td[data-count=pending]").inner_text() == "60"
    row.locator("a", has_text="mail").click()
    assert page.locator(".tab.on").get_attribute("data-tab") == "pending"
    assert page.locator("#jobs tbody tr").count() == 25
    assert ids[0] in page.locator("#jobs").inner_text()
    page.locator("a[rel=next]").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert "page 2 of 3" in page.locator(".pager").inner_text()
    listed = page.locator("#jobs").inner_text()
    assert ids[25] in listed and ids[0] not in listed
    page.locator(f"#jobs a:text('{ids[30]}')").click()
    page.wait_for_url(re.compile(ids[30]))
    assert '"n": 30' in page.locator("#payload").inner_text()
    assert page.locator(".title-row .chip").inner_text() == "pending"


def test_an_archived_job_is_retried_from_its_page_and_runs(site: Site, page: Any) -> None:
    [job_id] = enqueue(site, [Job.create("report.render", {"r": 1}, queue="reports", retention=600)])

    async def archive() -> None:
        await site.manager.archive_job("reports", job_id)

    site.call(archive)
    ran: list[str] = []

    async def render(delivery: Delivery) -> dict[str, str]:
        ran.append(delivery.id)
        return {"pdf": "done"}

    worker = Worker(site.url, queues=["reports"], shutdown_timeout=0, logger=QUIET)
    worker.register("report.render", render)
    site.start_worker(worker)
    page.goto(site.base + "/queues/reports?state=archived")
    page.locator(f"#jobs a:text('{job_id}')").click()
    assert page.locator(".title-row .chip").inner_text() == "archived"
    page.locator("button[data-action=run]").click()
    page.wait_for_url(re.compile("done="))
    assert "the job was archived" in page.locator(".note").inner_text()
    for _ in range(100):
        page.reload()
        if page.locator(".title-row .chip").inner_text() == "completed":
            break
        page.wait_for_timeout(100)
    assert page.locator(".title-row .chip").inner_text() == "completed"
    assert '"pdf": "done"' in page.locator("#result").inner_text()
    assert ran == [job_id]


def test_pause_and_resume_a_queue(site: Site, page: Any) -> None:
    enqueue(site, [Job.create("email.send", None, queue="mail")])
    page.goto(site.base + "/queues/mail")
    page.locator("#pause-toggle").click()
    page.wait_for_url(re.compile("done=queue"))
    assert page.locator("h1 .badge.paused").count() == 1
    assert site.call(site.manager.queue_info, "mail").paused
    page.locator("#pause-toggle").click()
    page.wait_for_url(re.compile("resumed"))
    assert page.locator("h1 .badge.paused").count() == 0
    assert not site.call(site.manager.queue_info, "mail").paused


def test_a_bulk_delete_asks_for_confirmation_first(site: Site, page: Any) -> None:
    ids = enqueue(site, [Job.create("email.send", {"n": i}, queue="mail") for i in range(30)])
    page.goto(site.base + "/queues/mail?state=pending")
    page.locator("[data-select-all]").check()
    assert page.locator("input[name=ids]:checked").count() == 25
    page.locator("button[value='delete/selected']").click()
    assert "Delete 25 pending jobs in mail?" in page.locator("h1").inner_text()
    assert site.call(site.manager.queue_info, "mail").pending == 30  # only asked so far
    page.locator("#confirm").click()
    page.wait_for_url(re.compile("done="))
    assert "delete: 25 done" in page.locator(".note").inner_text()
    assert page.locator(".tab[data-tab=pending] .count").inner_text() == "5"
    assert state_of(site, "mail", ids[29]) is JobState.PENDING
    page.locator("button[value='delete/all']").click()
    page.locator("a.btn.ghost", has_text="Cancel").click()  # changed my mind
    assert site.call(site.manager.queue_info, "mail").pending == 5


def test_live_counts_fall_while_a_worker_drains_and_pause_when_hidden(site: Site, page: Any) -> None:
    enqueue(site, [Job.create("tick", i, queue="drain") for i in range(40)])
    page.goto(site.base + "/")
    cell = page.locator("tr[data-queue=drain] td[data-count=pending]")
    assert cell.inner_text() == "40"

    async def tick(delivery: Delivery) -> None:
        await anyio.sleep(0.05)

    worker = Worker(site.url, queues=["drain"], concurrency=2, shutdown_timeout=0, logger=QUIET)
    worker.register("tick", tick)
    site.start_worker(worker)
    # No reload: the live fragment brings the counts.
    page.wait_for_function("() => document.querySelector('tr[data-queue=drain] td[data-count=pending]')"
                           ".innerText.trim() !== '40'")  # fmt: skip
    page.wait_for_function(
        "() => document.querySelector('tr[data-queue=drain] td[data-count=pending]').innerText.trim() === '0'"
    )
    assert page.locator("[data-stat=workers]").inner_text().startswith("1")
    # A hidden tab stops polling; showing it again polls at once.
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    before = page.evaluate("() => document.body.getAttribute('data-polls')")
    page.wait_for_timeout(1600)
    assert page.evaluate("() => document.body.getAttribute('data-polls')") == before
    assert page.locator("#live").inner_text() == "paused"
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    page.wait_for_function(f"() => document.body.getAttribute('data-polls') !== '{before}'")


def test_markup_in_a_job_stays_text_in_the_browser(site: Site, page: Any) -> None:
    [job_id] = enqueue(site, [Job.create(XSS, {"name": XSS}, queue="media", headers={"h": XSS})])
    page.goto(site.base + f"/queues/media/jobs/{job_id}")
    assert "<script>document.title='owned'</script>" in page.locator("#payload").inner_text()
    assert page.locator("dl.facts dd").first.inner_text() == XSS  # the job type, as text
    assert page.locator("script").count() == 1  # the dashboard's own file, nothing injected
    assert page.title() != "owned" and "owned" not in page.title()
    page.goto(site.base + "/queues/media")
    assert "owned" not in page.title()
