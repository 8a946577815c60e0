"""Open a broker from a URL; the scheme picks the driver among installed plugins."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from queue_core.broker import Broker
from queue_core.errors import InvalidBrokerURL, UnknownBrokerScheme
from queue_core.plugins import installed_schemes

DEFAULT_URL = "memory://"


def scheme_of(url: str) -> str:
    if not isinstance(url, str) or "://" not in url:
        raise InvalidBrokerURL("url", url, "a URL such as redis://localhost:6379/0 or memory://")
    return urlsplit(url).scheme.lower()


async def open_broker(url: str = DEFAULT_URL, **options: Any) -> Broker:
    """Build the broker for ``url``. Call inside an event loop; ``await broker.close()`` after.

    Options go to the driver (for Redis: ``prefix``, ``archive_max_size``, ...). An
    unknown scheme raises ``UnknownBrokerScheme`` listing the installed ones.
    """
    scheme = scheme_of(url)
    schemes = installed_schemes()
    factory = schemes.get(scheme)
    if factory is None:
        raise UnknownBrokerScheme(scheme, sorted(schemes))
    broker: Broker = factory(url, **options)
    return broker
