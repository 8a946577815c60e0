"""The kit's own dependencies (Hypothesis, pytest) come with the ``conformance`` extra.

Checked when the kit's tests are collected (``conftest.py``), so that running the kit
without the extra says which extra to install rather than failing on an import.
"""

from __future__ import annotations

import importlib.util

from queue_core import MissingDependency

KIT_DEPENDENCIES = ("hypothesis", "pytest")


def require_kit_dependencies() -> None:
    for module in KIT_DEPENDENCIES:
        if importlib.util.find_spec(module) is None:
            raise MissingDependency(f"the conformance kit (it needs {module})", "conformance")
