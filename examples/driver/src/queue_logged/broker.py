"""A Broker that forwards every call to an inner memory:// broker and logs it.

A real driver implements each Broker method against its storage (see queue-core's
docs/broker-protocol.md); forwarding keeps this example short while still being a
complete driver that passes the conformance kit.
"""

from __future__ import annotations

import logging
import reprlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from queue_core import Broker, Capabilities, InvalidBrokerURL, open_broker

logger = logging.getLogger("queue_logged")
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60


class LoggedBroker:
    """Every Broker method of ``inner``, each call logged at DEBUG with its answer."""

    def __init__(self, inner: Broker) -> None:
        self._inner = inner
        # Declare what the inner broker declares, under this driver's own name: the
        # conformance kit tests exactly the runtimes and features listed here.
        self.capabilities: Capabilities = replace(inner.capabilities, name="logged")

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._inner, name)

        async def logged(*args: Any, **kwargs: Any) -> Any:
            shown = ", ".join([*map(_short.repr, args), *(f"{k}={_short.repr(v)}" for k, v in kwargs.items())])
            try:
                answer = await method(*args, **kwargs)
            except Exception as error:
                logger.debug("%s(%s) raised %r", name, shown, error)
                raise
            logger.debug("%s(%s) -> %s", name, shown, _short.repr(answer))
            return answer

        return logged

    async def close(self) -> None:
        logger.debug("close()")
        await self._inner.close()


async def open_logged_broker(url: str, *, namespace: str | None = None) -> LoggedBroker:
    """``logged://[name]``: a logged broker on the in-process server ``memory://name``.

    ``namespace`` keeps everything the broker stores apart from other namespaces; the
    conformance kit passes a fresh one for each example so that examples never see each
    other's jobs.
    """
    parts = urlsplit(url)
    if parts.scheme != "logged" or parts.path not in ("", "/"):
        raise InvalidBrokerURL("url", url, "logged:// or logged://<name>")
    options = {"namespace": namespace} if namespace else {}
    inner = await open_broker(f"memory://{parts.netloc}", **options)
    logger.debug("opened %s on memory://%s (namespace %r)", url, parts.netloc, namespace)
    return LoggedBroker(inner)
