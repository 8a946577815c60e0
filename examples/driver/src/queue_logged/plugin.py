"""Registers logged:// with queue-core (the entry point in pyproject.toml names this module)."""

from __future__ import annotations

from collections.abc import Callable

from queue_core import hookimpl
from queue_logged.broker import open_logged_broker


@hookimpl
def queue_core_add_brokers() -> dict[str, Callable[..., object]]:
    # URL scheme -> factory. queue-core calls the factory as factory(url, **options) inside
    # a running event loop, and awaits it when it is an async function (as here).
    return {"logged": open_logged_broker}
