"""``create_app``: the dashboard as an ASGI application.

The app holds one ``Manager``, opened on first use (so it works mounted inside another
application, whose lifespan does not reach mounted apps) and closed at shutdown when
the app opened it from a URL. Pages are in ``pages``, actions in ``actions``; both go
through ``Dashboard.render`` so that every page gets the same context (base path, CSRF
token, read-only flag, refresh interval).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from queue_core import errors
from queue_core.broker import Broker
from queue_core.dashboard import actions, formatting, pages
from queue_core.dashboard.security import AuthCheck, AuthMiddleware, Refused, SecurityHeadersMiddleware, basic_auth
from queue_core.manager import Manager

#: how often live parts of a page refresh, in seconds (paused while the tab is hidden).
DEFAULT_REFRESH = 3.0

Handler = Callable[["Dashboard", Request], Awaitable[Response]]


class Dashboard:
    """What every handler needs: the Manager, the options and the templates."""

    def __init__(self, manager: Manager, *, owns_manager: bool, read_only: bool, refresh: float) -> None:
        self.manager = manager
        self.owns_manager = owns_manager
        self.read_only = read_only
        self.refresh = refresh
        self._opened = False
        self._lock = anyio.Lock()
        environment = jinja2.Environment(
            loader=jinja2.PackageLoader("queue_core.dashboard", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        environment.filters.update(
            utc=formatting.utc, span=formatting.span, size=formatting.size, number=formatting.number
        )
        self.templates = environment

    async def ready(self) -> Manager:
        if not self._opened:
            async with self._lock:
                if not self._opened:
                    await self.manager.open()
                    self._opened = True
        return self.manager

    async def close(self) -> None:
        if self.owns_manager and self._opened:
            await self.manager.aclose()
            self._opened = False

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        now = time.time()
        base = request.scope.get("root_path", "").rstrip("/")
        html = self.templates.get_template(template).render(
            base=base,
            csrf=request.scope.get("state", {}).get("csrf", ""),
            read_only=self.read_only,
            refresh_ms=int(self.refresh * 1000),
            now=now,
            ago=lambda when: formatting.relative(when, now),
            path=request.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


def create_app(
    url_or_manager: str | Manager | Broker,
    *,
    read_only: bool = False,
    auth: str | AuthCheck | None = None,
    refresh: float = DEFAULT_REFRESH,
) -> Starlette:
    """The dashboard as an ASGI app.

    ``url_or_manager``: a broker URL (the app opens and closes its Manager), a
    ``Manager`` or a ``Broker`` (used as given, left open). ``read_only``: no action is
    shown and every POST is refused with 403. ``auth``: ``"user:password"`` for HTTP
    basic authentication, or a callable given the request that returns (or awaits) True
    to let it in; None serves everyone (the CLI binds 127.0.0.1 by default).
    ``refresh``: seconds between live updates of counts and charts.
    """
    if isinstance(url_or_manager, Manager):
        manager, owns = url_or_manager, False
    else:
        manager, owns = Manager(url_or_manager), isinstance(url_or_manager, str)
    if isinstance(refresh, bool) or not isinstance(refresh, int | float) or not 0.5 <= refresh <= 300:
        raise errors.ValidationError("refresh", refresh, "a number of seconds from 0.5 to 300")
    check = basic_auth(auth) if isinstance(auth, str) else auth
    dashboard = Dashboard(manager, owns_manager=owns, read_only=bool(read_only), refresh=float(refresh))

    def bind(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                await dashboard.ready()
                return await handler(dashboard, request)
            except Refused as refused:
                return PlainTextResponse(f"{refused.status}: {refused.reason}\n", status_code=refused.status)
            except errors.NotFound as exc:
                return dashboard.render(request, "error.html", 404, title="Not found", message=str(exc))
            except errors.ValidationError as exc:
                return dashboard.render(request, "error.html", 400, title="Bad request", message=str(exc))
            except errors.OperationNotAllowed as exc:
                return dashboard.render(request, "error.html", 409, title="Not allowed", message=str(exc))
            except errors.BrokerError as exc:
                return dashboard.render(request, "error.html", 503, title="Broker unavailable", message=str(exc))

        return endpoint

    routes = [
        Route("/", bind(pages.overview), name="overview"),
        Route("/live/overview", bind(pages.overview_live)),
        Route("/queues/{queue}", bind(pages.queue_page)),
        Route("/live/queues/{queue}", bind(pages.queue_live)),
        Route("/queues/{queue}/groups", bind(pages.groups_page)),
        Route("/queues/{queue}/jobs/{job_id}", bind(pages.job_page)),
        Route("/metrics", bind(pages.metrics_page)),
        Route("/live/metrics", bind(pages.metrics_live)),
        Route("/workers", bind(pages.workers_page)),
        Route("/live/workers", bind(pages.workers_live)),
        Route("/schedules", bind(pages.schedules_page)),
        Route("/schedules/{schedule_id}", bind(pages.schedule_page)),
        Route("/server", bind(pages.server_page)),
        Route("/queues/{queue}/pause", bind(actions.pause), methods=["POST"]),
        Route("/queues/{queue}/resume", bind(actions.resume), methods=["POST"]),
        Route("/queues/{queue}/bulk", bind(actions.bulk), methods=["POST"]),
        Route("/queues/{queue}/jobs/{job_id}/{action}", bind(actions.job_action), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("queue_core.dashboard", "static")]), name="static"),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await dashboard.close()

    middleware = [Middleware(SecurityHeadersMiddleware)]
    if check is not None:
        middleware.insert(0, Middleware(AuthMiddleware, check=check))
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.dashboard = dashboard
    return app
