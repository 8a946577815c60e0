"""The dashboard under a path prefix, as the CLI's ``--prefix`` serves it."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp


def mounted(app: ASGIApp, prefix: str) -> ASGIApp:
    """``app`` itself for no prefix; else an app serving it under ``prefix`` and
    sending ``/`` there."""
    if not prefix:
        return app

    async def home(request: Request) -> Response:
        return RedirectResponse(f"{prefix}/", status_code=307)

    return Starlette(routes=[Route("/", home), Mount(prefix, app)])
