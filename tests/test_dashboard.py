"""The dashboard in-process (httpx over ASGI): every page renders, and the security
promises hold: CSRF, read-only, escaping, authentication, headers, no action over GET."""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from queue_core import Broker, Client, JobState, Manager, MissingDependency, Settlement
from queue_core.dashboard import basic_auth, create_app
from queue_core.dashboard.security import CSRF_COOKIE
from queue_core.dashboard.server import serve
from queue_core.dashboard.site import mounted
from tests.redis_server import free_port

pytestmark = pytest.mark.anyio

XSS = "<script>document.title='owned'</script>"


def client_for(app: Any, **options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash.test", **options)


@pytest.fixture
async def seeded(broker: Broker) -> AsyncIterator[dict[str, str]]:
    async with Client(broker) as client:
        ids = {
            "a": (await client.enqueue("email.send", {"to": "a@example.com"}, queue="mail")).job_id,
            "b": (await client.enqueue("email.send", {"to": "b@example.com"}, queue="mail")).job_id,
            "xss": (await client.enqueue(XSS, {"name": XSS}, queue="mail", headers={"h": XSS})).job_id,
        }
    yield ids


async def csrf_token(client: httpx.AsyncClient) -> str:
    response = await client.get("/")
    assert response.status_code == 200
    token = client.cookies.get(CSRF_COOKIE)
    assert token
    return token


async def test_every_page_renders(broker: Broker, seeded: dict[str, str]) -> None:
    async with client_for(create_app(broker)) as client:
        overview = await client.get("/")
        assert overview.status_code == 200
        assert 'data-queue="mail"' in overview.text and 'data-live="/live/overview"' in overview.text
        queue = await client.get("/queues/mail?state=pending")
        assert queue.status_code == 200 and seeded["a"] in queue.text and seeded["b"] in queue.text
        job = await client.get(f"/queues/mail/jobs/{seeded['a']}")
        assert job.status_code == 200 and "a@example.com" in job.text
        for path in ("/live/overview", "/live/queues/mail", "/queues/mail/groups", "/metrics", "/metrics?window=72h",
                     "/live/workers", "/live/metrics?window=24h", "/workers", "/schedules", "/server"):  # fmt: skip
            response = await client.get(path)
            assert response.status_code == 200, path
        missing = await client.get("/queues/mail/jobs/nope")
        assert missing.status_code == 404
        bad = await client.get("/queues/mail?state=finished")
        assert bad.status_code == 400 and "state" in bad.text


async def test_a_queue_page_pages_and_finds_jobs_by_id_and_type(broker: Broker) -> None:
    async with Client(broker) as client:
        outcomes = await client.enqueue_many([_job("resize" if i % 3 else "email", i) for i in range(60)])
    ids = [o.job_id for o in outcomes]
    async with client_for(create_app(broker)) as client:
        first = await client.get("/queues/bulk?state=pending&size=25")
        third = await client.get("/queues/bulk?state=pending&size=25&page=3")
        assert "page 1 of 3" in first.text and "page 3 of 3" in third.text
        assert ids[0] in first.text and ids[0] not in third.text and ids[59] in third.text
        by_id = await client.get(f"/queues/bulk?state=archived&q={ids[30]}")
        assert ids[30] in by_id.text and "1 found" in by_id.text
        by_type = await client.get("/queues/bulk?state=pending&q=email")
        assert "20 found" in by_type.text


def _job(job_type: str, number: int) -> Any:
    from queue_core import Job

    return Job.create(job_type, number, queue="bulk")


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    broker: Broker, seeded: dict[str, str]
) -> None:
    async with client_for(create_app(broker)) as client:
        token = await csrf_token(client)
        refused = [
            await client.post("/queues/mail/pause", data={}),
            await client.post("/queues/mail/pause", data={"csrf": "x" * 43}),
            await client.post(f"/queues/mail/jobs/{seeded['a']}/delete", data={}),
            await client.post("/queues/mail/bulk", data={"state": "pending", "do": "delete/all", "confirmed": "yes"}),
            # The right token from another site's page: refused by its Origin.
            await client.post("/queues/mail/pause", data={"csrf": token}, headers={"origin": "https://evil.example"}),
        ]
        assert [r.status_code for r in refused] == [403] * len(refused)
        assert "CSRF" in refused[0].text
    async with Manager(broker) as manager:
        info = await manager.queue_info("mail")
        assert not info.paused and info.pending == 3


async def test_actions_with_the_token_act_and_bulk_actions_ask_first(broker: Broker, seeded: dict[str, str]) -> None:
    async with client_for(create_app(broker)) as client, Manager(broker) as manager:
        token = await csrf_token(client)
        paused = await client.post("/queues/mail/pause", data={"csrf": token})
        assert paused.status_code == 303 and "queue+paused" in paused.headers["location"]
        assert (await manager.queue_info("mail")).paused
        archived = await client.post(f"/queues/mail/jobs/{seeded['a']}/archive", data={"csrf": token})
        assert archived.status_code == 303
        assert (await manager.job_info("mail", seeded["a"])).state is JobState.ARCHIVED
        ask = await client.post("/queues/mail/bulk", data={"csrf": token, "state": "pending", "do": "delete/all"})
        assert ask.status_code == 200 and "Yes, delete" in ask.text
        assert (await manager.queue_info("mail")).pending == 2  # asked, not done
        done = await client.post(
            "/queues/mail/bulk",
            data={"csrf": token, "state": "pending", "action": "delete", "scope": "all", "confirmed": "yes"},
        )
        assert done.status_code == 303
        assert (await manager.queue_info("mail")).pending == 0
        selected = await client.post(
            "/queues/mail/bulk",
            data={"csrf": token, "state": "archived", "action": "run", "scope": "selected", "confirmed": "yes",
                  "ids": [seeded["a"]]},
        )  # fmt: skip
        assert selected.status_code == 303
        assert (await manager.job_info("mail", seeded["a"])).state is JobState.PENDING
        not_allowed = await client.post(
            f"/queues/mail/jobs/{seeded['a']}/run", data={"csrf": token}
        )  # pending jobs cannot be run
        assert not_allowed.status_code == 409


async def test_no_action_is_reachable_over_get(broker: Broker, seeded: dict[str, str]) -> None:
    async with client_for(create_app(broker)) as client:
        for path in ("/queues/mail/pause", f"/queues/mail/jobs/{seeded['a']}/delete", "/queues/mail/bulk"):
            assert (await client.get(path)).status_code == 405
    async with Manager(broker) as manager:
        assert not (await manager.queue_info("mail")).paused
        assert (await manager.job_info("mail", seeded["a"])).state is JobState.PENDING


async def test_a_payload_type_or_header_holding_markup_is_shown_as_text(broker: Broker, seeded: dict[str, str]) -> None:
    async with client_for(create_app(broker)) as client:
        for path in (f"/queues/mail/jobs/{seeded['xss']}", "/queues/mail?state=pending", "/metrics"):
            html = (await client.get(path)).text
            assert "<script>document" not in html, path
        job = (await client.get(f"/queues/mail/jobs/{seeded['xss']}")).text
        assert "&lt;script&gt;document.title=" in job
        assert len(re.findall(r"<script\b", job)) == 1  # the page's own script file only
        assert 'src="/static/dashboard.js"' in job


async def test_read_only_shows_no_action_and_refuses_every_post(broker: Broker, seeded: dict[str, str]) -> None:
    async with client_for(create_app(broker, read_only=True)) as client:
        token = await csrf_token(client)
        for path in ("/", "/queues/mail", f"/queues/mail/jobs/{seeded['a']}", "/queues/mail/groups"):
            html = (await client.get(path)).text
            assert 'method="post"' not in html, path
        refused = [
            await client.post("/queues/mail/pause", data={"csrf": token}),
            await client.post(f"/queues/mail/jobs/{seeded['a']}/delete", data={"csrf": token}),
            await client.post(
                "/queues/mail/bulk",
                data={"csrf": token, "state": "pending", "action": "delete", "scope": "all", "confirmed": "yes"},
            ),
        ]
        assert [r.status_code for r in refused] == [403, 403, 403]
        assert "read-only" in refused[0].text
    async with Manager(broker) as manager:
        info = await manager.queue_info("mail")
        assert not info.paused and info.pending == 3


async def test_wrong_credentials_get_401_and_right_ones_get_in(broker: Broker, seeded: dict[str, str]) -> None:
    app = create_app(broker, auth="admin:s3cret:with-colon")
    async with client_for(app) as client:
        assert (await client.get("/")).status_code == 401
        wrong = await client.get("/", auth=("admin", "nope"))
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Basic")
        assert (await client.get("/", auth=("other", "s3cret:with-colon"))).status_code == 401
        assert (await client.get("/static/dashboard.css", auth=("admin", "nope"))).status_code == 401
        assert (await client.get("/", auth=("admin", "s3cret:with-colon"))).status_code == 200
        token = client.cookies.get(CSRF_COOKIE)
        wrong_post = await client.post("/queues/mail/pause", data={"csrf": token}, auth=("admin", "x"))
        assert wrong_post.status_code == 401
    assert not (await broker.queue_stats("mail", 0)).paused


async def test_a_callable_decides_who_gets_in(broker: Broker) -> None:
    async def only_ops(request: Any) -> bool:
        return request.headers.get("x-team") == "ops"

    async with client_for(create_app(broker, auth=only_ops)) as client:
        refused = await client.get("/")
        assert refused.status_code == 401 and "www-authenticate" not in refused.headers
        assert (await client.get("/", headers={"x-team": "ops"})).status_code == 200
    with pytest.raises(ValueError, match="user:password"):
        basic_auth("nopassword")


async def test_every_response_carries_the_security_headers(broker: Broker, seeded: dict[str, str]) -> None:
    async with client_for(create_app(broker)) as client:
        for path in ("/", "/static/dashboard.js", "/queues/mail/jobs/nope"):
            headers = (await client.get(path)).headers
            csp = headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["x-frame-options"] == "DENY"
            assert headers["x-content-type-options"] == "nosniff"
        cookie = (await client.get("/")).headers.get("set-cookie", "") or ""
        first = await client_for(create_app(broker)).get("/")
        assert "SameSite=Strict" in first.headers["set-cookie"] and "HttpOnly" in first.headers["set-cookie"]
        del cookie


async def test_under_a_prefix_every_link_carries_it(broker: Broker, seeded: dict[str, str]) -> None:
    app = mounted(create_app(broker), "/queues-ui")
    async with client_for(app) as client:
        home = await client.get("/")
        assert home.status_code == 307 and home.headers["location"] == "/queues-ui/"
        page = await client.get("/queues-ui/")
        assert page.status_code == 200
        assert 'href="/queues-ui/queues/mail"' in page.text and 'src="/queues-ui/static/dashboard.js"' in page.text
        token = client.cookies.get(CSRF_COOKIE)
        assert (await client.post("/queues-ui/queues/mail/pause", data={"csrf": token})).status_code == 303


async def test_hypercorn_serves_it_on_this_runtime(broker: Broker, seeded: dict[str, str], anyio_backend: str) -> None:
    """A real socket and server, on asyncio and on trio."""
    port = free_port()
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: serve(create_app(broker), "127.0.0.1", port, stop=stop))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            with anyio.fail_after(20):
                while True:
                    try:
                        response = await client.get("/queues/mail")
                        break
                    except httpx.ConnectError:
                        await anyio.sleep(0.02)
        stop.set()
    assert response.status_code == 200 and seeded["b"] in response.text


async def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import queue_core.dashboard as dashboard

    for name in [m for m in sys.modules if m.startswith(("queue_core.dashboard.", "starlette"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "starlette", None)
    with pytest.raises(MissingDependency, match=r"queue-core\[dashboard\]"):
        dashboard.create_app("memory://")


async def test_the_job_page_shows_the_stored_traceback_as_text(broker: Broker) -> None:
    async with Client(broker) as client:
        job_id = (await client.enqueue("report.build", {"day": "mon"}, queue="mail", max_retries=0)).job_id
    now = await broker.server_time()
    [lease] = await broker.dequeue(["mail"], now, 30, "w1", 1)
    trace = f'Traceback (most recent call last):\n  File "app.py", line 3, in build\nValueError: {XSS}'
    assert await broker.settle([Settlement.archive(lease, f"ValueError: {XSS}", traceback=trace)], now) == [True]
    async with client_for(create_app(broker)) as client:
        page = await client.get(f"/queues/mail/jobs/{job_id}")
    assert page.status_code == 200
    assert 'id="last-traceback"' in page.text and "File &#34;app.py&#34;, line 3, in build" in page.text
    assert XSS not in page.text  # escaped, inert
