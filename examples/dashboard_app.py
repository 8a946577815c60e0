"""The dashboard mounted in your own ASGI application, behind your own check.

    python examples/dashboard_app.py           # one request in-process, prints what it saw
    python examples/dashboard_app.py --serve   # serve on http://127.0.0.1:8181/admin/queues/

Needs the dashboard extra: pip install 'queue-core[dashboard]'. The app below is plain
Starlette; FastAPI takes the same ``Mount``.
"""

from __future__ import annotations

import sys

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from queue_core import Client, Manager
from queue_core.dashboard import create_app
from queue_core.dashboard.server import serve

URL = "memory://dashboard-example"


def is_staff(request: HTTPConnection) -> bool:
    """Your application's own check; here a header a proxy would set after login."""
    return request.headers.get("x-user-role") == "staff"


async def home(request: object) -> PlainTextResponse:
    return PlainTextResponse("my application; the queues are under /admin/queues/")


manager = Manager(URL)
app = Starlette(
    routes=[
        Route("/", home),
        Mount("/admin/queues", app=create_app(manager, auth=is_staff)),
    ]
)


async def main() -> None:
    async with Client(URL) as client:
        for number in range(3):
            await client.enqueue("email.send", {"to": f"user{number}@example.com"}, queue="emails")
    if "--serve" in sys.argv:
        print("serving on http://127.0.0.1:8181/admin/queues/ (send the header x-user-role: staff)")
        await serve(app, "127.0.0.1", 8181)
        return
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://example") as browser:
        refused = await browser.get("/admin/queues/")
        page = await browser.get("/admin/queues/queues/emails", headers={"x-user-role": "staff"})
    print(f"without the role: {refused.status_code}")
    print(f"queue page: {page.status_code}, {page.text.count('email.send')} email.send jobs listed")
    await manager.aclose()


if __name__ == "__main__":
    anyio.run(main)
