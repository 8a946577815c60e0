"""The form of a driver's own reports: ``server_info`` figures are the server's, so only
their shape and types are checked, never their values."""

from __future__ import annotations

from typing import Any

from queue_core import QueueLocation, ServerReport


def server_report_problems(report: Any) -> list[str]:
    """What is wrong with the shape of a ``server_info()`` answer; empty when it is a
    well-formed ``ServerReport``."""
    if not isinstance(report, ServerReport):
        return [f"server_info() should return a ServerReport, got {report!r}"]
    # Read as Any: the dataclass does not check its fields, so a driver may fill them wrongly.
    return _field_problems(report)


def _field_problems(report: Any) -> list[str]:
    problems = []
    if not (isinstance(report.backend, str) and report.backend):
        problems.append(f"backend should be a non-empty str, got {report.backend!r}")
    for name in ("version", "eviction_policy"):
        value = getattr(report, name)
        if value is not None and not (isinstance(value, str) and value):
            problems.append(f"{name} should be None or a non-empty str, got {value!r}")
    for name in ("memory_used", "memory_limit"):
        value = getattr(report, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            problems.append(f"{name} should be None or a count of bytes, got {value!r}")
    if not isinstance(report.is_cluster, bool):
        problems.append(f"is_cluster should be a bool, got {report.is_cluster!r}")
    problems.extend(_location_problems(report))
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in report.details.items()):
        problems.append(f"details should map str to str, got {dict(report.details)!r}")
    return problems


def _location_problems(report: Any) -> list[str]:
    located = report.queue_locations
    if located is None:
        return []
    if not report.is_cluster:
        return [f"queue_locations are for a cluster only, got {located!r} with is_cluster False"]
    if not isinstance(located, tuple):
        return [f"queue_locations should be a tuple, got {located!r}"]
    return [
        f"each queue location should name a queue, a slot and its nodes (str), got {at!r}"
        for at in located
        if not (
            isinstance(at, QueueLocation)
            and isinstance(at.queue, str)
            and isinstance(at.slot, int)
            and isinstance(at.nodes, tuple)
            and all(isinstance(node, str) for node in at.nodes)
        )
    ]
