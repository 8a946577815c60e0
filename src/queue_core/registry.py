"""Open a broker from a URL; the scheme picks the driver among installed plugins."""

from __future__ import annotations

import inspect
from typing import Any
from urllib.parse import urlsplit

from queue_core.broker import Broker, Capabilities
from queue_core.errors import InvalidBrokerFactory, InvalidBrokerURL, UnknownBrokerScheme
from queue_core.plugins import broken_plugins, installed_schemes, scheme_owner

DEFAULT_URL = "memory://"


def scheme_of(url: str) -> str:
    if not isinstance(url, str) or "://" not in url:
        raise InvalidBrokerURL("url", url, "a URL such as redis://localhost:6379/0 or memory://")
    return urlsplit(url).scheme.lower()


async def open_broker(url: str = DEFAULT_URL, **options: Any) -> Broker:
    """Build the broker for ``url``. Call inside an event loop; ``await broker.close()`` after.

    Options go to the driver (for Redis: ``prefix``, ``archive_max_size``, ...). An
    unknown scheme raises ``UnknownBrokerScheme`` listing the installed ones and the
    plugins that failed to load. The driver's factory may be a plain function or a
    coroutine function; either way it must give a ``Broker`` (``InvalidBrokerFactory``).
    """
    scheme = scheme_of(url)
    schemes = installed_schemes()
    factory = schemes.get(scheme)
    if factory is None:
        raise UnknownBrokerScheme(scheme, sorted(schemes), [broken.describe() for broken in broken_plugins()])
    made: object = factory(url, **options)
    if inspect.isawaitable(made):
        made = await made
    if not isinstance(getattr(made, "capabilities", None), Capabilities):
        raise InvalidBrokerFactory(scheme, scheme_owner(scheme), made)
    broker: Broker = made  # type: ignore[assignment]  # checked by its capabilities above
    return broker
