"""Middleware: worker, group and handler levels, composed once at start, in a fixed order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from queue_core import Broker, CallNext, Delivery
from queue_core.middleware import compose
from tests.worker_kit import (
    HookRecorder,
    fresh_broker,
    recording_hooks,
)


@pytest.fixture
async def broker(broker_url: str) -> AsyncIterator[Broker]:
    async with fresh_broker(broker_url) as opened:
        yield opened


@pytest.fixture
async def hooks() -> AsyncIterator[HookRecorder]:
    async with recording_hooks() as recorder:
        yield recorder


def tracing(name: str, trail: list[str]) -> Any:
    async def middleware(delivery: Delivery, call_next: CallNext) -> Any:
        trail.append(f"{name}>")
        try:
            return await call_next(delivery)
        finally:
            trail.append(f"<{name}")

    middleware.__name__ = name
    return middleware


async def test_compose_runs_the_first_middleware_outermost() -> None:
    trail: list[str] = []

    async def endpoint(delivery: Any) -> str:
        trail.append("handler")
        return "done"

    chain = compose([tracing("a", trail), tracing("b", trail)], endpoint)
    assert await chain(None) == "done"  # type: ignore[arg-type]
    assert trail == ["a>", "b>", "handler", "<b", "<a"]
