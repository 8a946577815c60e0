"""The web dashboard: see and operate every queue from a browser.

::

    from queue_core.dashboard import create_app

    app = create_app("redis://localhost:6379/0", read_only=False, auth="admin:secret")

``create_app`` returns an ASGI application (Starlette, server-rendered with Jinja2, no
JavaScript build step, every asset shipped in the package) that reads and acts only
through a ``Manager``, so it works on every driver, under asyncio and trio. Mount it in
your own Starlette, FastAPI or Django-ASGI application, or serve it with
``queue-core dashboard --url URL``. It needs the ``dashboard`` extra:
``pip install 'queue-core[dashboard]'``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from queue_core.extras import require

if TYPE_CHECKING:
    from queue_core.dashboard.app import create_app as create_app
    from queue_core.dashboard.security import basic_auth as basic_auth

__all__ = ["basic_auth", "create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import queue_core.dashboard` works without the extra and
    # the first real use names the extra to install.
    if name not in __all__:
        raise AttributeError(name)
    for module in ("starlette", "jinja2", "hypercorn", "python_multipart"):
        require(module, feature="the dashboard", extra="dashboard")
    app = importlib.import_module("queue_core.dashboard.app")
    security = importlib.import_module("queue_core.dashboard.security")
    return app.create_app if name == "create_app" else security.basic_auth
