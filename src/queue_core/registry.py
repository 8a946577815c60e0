"""Open a broker from a URL; the scheme picks the driver among installed plugins."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self
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


class BrokerHolder:
    """The broker of a Client or Manager: opened from a URL (and closed on exit), or
    given ready-made (and left open for its owner).

    Use the subclass as ``async with Client(url) as client`` or call ``open()`` and
    ``aclose()`` yourself.
    """

    def __init__(self, broker_or_url: Broker | str, broker_options: Mapping[str, Any] | None = None) -> None:
        if isinstance(broker_or_url, str):
            scheme_of(broker_or_url)  # a malformed URL fails here, not at the first call
            self._url: str | None = broker_or_url
            self._broker: Broker | None = None
        else:
            self._url = None
            self._broker = broker_or_url
        self._owns_broker = False
        self._broker_options = dict(broker_options or {})

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Open the broker from the URL given at construction (no-op for a given broker)."""
        if self._broker is None and self._url is not None:
            self._broker = await open_broker(self._url, **self._broker_options)
            self._owns_broker = True

    async def aclose(self) -> None:
        """Close the broker if this object opened it. Idempotent."""
        if self._owns_broker and self._broker is not None:
            broker, self._broker, self._owns_broker = self._broker, None, False
            await broker.close()

    @property
    def broker(self) -> Broker:
        if self._broker is None:
            name = type(self).__name__
            raise RuntimeError(
                f"{name}({self._url!r}) is not open; use `async with {name}(...)` or `await {name.lower()}.open()`"
            )
        return self._broker

    async def ping(self) -> None:
        """Raise ``BrokerUnavailable`` unless the broker answers."""
        await self.broker.ping()
