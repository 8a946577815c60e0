"""Serving the dashboard with hypercorn, on whichever runtime the caller runs (asyncio or
trio), until ``stop`` is set or the task is cancelled."""

from __future__ import annotations

import logging

import anyio
import sniffio
from hypercorn.config import Config
from starlette.types import ASGIApp

LOG = logging.getLogger("queue_core.dashboard")


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


async def serve(app: ASGIApp, host: str, port: int, *, stop: anyio.Event | None = None) -> None:
    config = Config()
    config.bind = [bind_address(host, port)]
    config.accesslog = None
    config.errorlog = LOG
    config.graceful_timeout = 2.0
    trigger = stop.wait if stop is not None else anyio.sleep_forever
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve as serve_trio

        await serve_trio(app, config, shutdown_trigger=trigger)  # type: ignore[arg-type]
    else:
        from hypercorn.asyncio import serve as serve_asyncio

        await serve_asyncio(app, config, shutdown_trigger=trigger)  # type: ignore[arg-type]
