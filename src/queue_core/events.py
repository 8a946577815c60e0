"""Calling the pluggy notification hooks without letting a plugin break the caller.

Hooks are notifications: a metrics plugin that raises must not fail an enqueue or kill a
worker. ``emit`` calls every implementation of one hook and logs (never raises) what a
plugin raised.
"""

from __future__ import annotations

import logging
from typing import Any

from queue_core.plugins import plugin_manager

LOGGER_NAME = "queue_core"


def emit(hook: str, logger: logging.Logger | None = None, /, **kwargs: Any) -> None:
    """Call hook ``queue_core_<hook>`` with ``kwargs``; plugin errors are logged, not raised."""
    try:
        caller = getattr(plugin_manager().hook, f"queue_core_{hook}")
        # Most runs have no plugin on a given hook: skip pluggy's call machinery (it is
        # on the path of every enqueue and every job).
        if caller.get_hookimpls():
            caller(**kwargs)
    except Exception:
        (logger or logging.getLogger(LOGGER_NAME)).exception("plugin hook queue_core_%s raised; ignored", hook)
