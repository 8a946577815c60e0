"""Optional dependencies, each brought by one extra of the ``queue-core`` distribution.

A feature whose library is missing raises ``MissingDependency`` naming the extra to
install, instead of a bare ``ModuleNotFoundError`` from deep inside a call.
"""

from __future__ import annotations

import importlib

from queue_core.errors import MissingDependency


def require(module: str, *, feature: str, extra: str) -> None:
    """Import ``module`` or raise ``MissingDependency`` telling to install ``extra``.

    Only the absence of ``module`` itself is translated: a module that is installed but
    fails to import for another reason keeps its own error.
    """
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != module.partition(".")[0]:
            raise
        raise MissingDependency(feature, extra) from exc


def require_backend(backend: str) -> None:
    """Check that the async library for ``backend`` is installed (anyio's own error only
    says "No such backend")."""
    if backend == "trio":
        require("trio", feature="running on trio", extra="trio")
