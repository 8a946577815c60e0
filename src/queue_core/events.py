"""Calling the pluggy notification hooks without letting a plugin break the caller.

Hooks are notifications: a metrics plugin that raises must not fail an enqueue or kill a
worker. ``emit`` calls every implementation of one hook and logs (never raises) what a
plugin raised; ``collect`` does the same and returns the results; ``stamped`` adds the
headers plugins give a job about to be written.
"""

from __future__ import annotations

import logging
from typing import Any

from queue_core.errors import QueueError
from queue_core.job import Job
from queue_core.plugins import plugin_manager

LOGGER_NAME = "queue_core"


def wanted(hook: str) -> bool:
    """Whether any plugin implements ``queue_core_<hook>`` (to skip preparing its arguments)."""
    return bool(getattr(plugin_manager().hook, f"queue_core_{hook}").get_hookimpls())


def emit(hook: str, logger: logging.Logger | None = None, /, **kwargs: Any) -> None:
    """Call hook ``queue_core_<hook>`` with ``kwargs``; plugin errors are logged, not raised
    (one plugin's error does not keep the hook from the others)."""
    # Most runs have no plugin on a given hook: this returns before building anything (it
    # is on the path of every enqueue and every job).
    impls = getattr(plugin_manager().hook, f"queue_core_{hook}").get_hookimpls()
    if impls:
        _each(hook, impls, logger, kwargs)


def _each(hook: str, impls: list[Any], logger: logging.Logger | None, kwargs: dict[str, Any]) -> list[Any]:
    """Call each implementation in pluggy's order (the newest registered first); the
    results that are not None."""
    results: list[Any] = []
    for impl in reversed(impls):  # pluggy keeps them in reverse call order
        if impl.hookwrapper or impl.wrapper:
            continue
        try:
            result = impl.function(*[kwargs[name] for name in impl.argnames])
        except Exception:
            (logger or logging.getLogger(LOGGER_NAME)).exception(
                "plugin %s: hook queue_core_%s raised; ignored", impl.plugin_name, hook
            )
            continue
        if result is not None:
            results.append(result)
    return results


def collect(hook: str, logger: logging.Logger | None = None, /, **kwargs: Any) -> list[Any]:
    """Call hook ``queue_core_<hook>`` and return its results (None results left out), in
    call order; a plugin error is logged and yields no result (the others still run)."""
    return _each(hook, getattr(plugin_manager().hook, f"queue_core_{hook}").get_hookimpls(), logger, kwargs)


def stamped(job: Job, origin: str, logger: logging.Logger | None = None) -> Job:
    """``job`` with the headers plugins add through ``queue_core_job_enqueueing``
    (the job's own headers win; among plugins, the first called wins)."""
    if not wanted("job_enqueueing"):
        return job
    added: dict[str, str] = {}
    for headers in collect("job_enqueueing", logger, job=job, origin=origin):
        for name, value in dict(headers).items():
            if isinstance(name, str) and isinstance(value, str):
                added.setdefault(name, value)
            else:
                (logger or logging.getLogger(LOGGER_NAME)).warning(
                    "plugin header %r=%r on job %s dropped: names and values must be strings", name, value, job.job_id
                )
    if not added:
        return job
    try:
        return job.with_options(headers={**added, **job.headers})
    except QueueError as exc:
        (logger or logging.getLogger(LOGGER_NAME)).warning("plugin headers on job %s dropped: %s", job.job_id, exc)
        return job
