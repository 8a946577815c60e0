"""From a URL to a transport: standalone, Cluster or Sentinel; asyncio or threads.

Schemes: ``redis://``, ``rediss://`` (TLS), ``unix://``; ``redis+cluster://`` and
``rediss+cluster://`` (any node of the cluster as the seed); ``redis+sentinel://`` and
``rediss+sentinel://`` with ``host:port[,host:port...]/<service name>[/<db>]``.
Credentials in the URL go to the data nodes (for Sentinel, ``?sentinel_password=`` goes to
the sentinels). ``?prefix=`` is queue-core's own and is taken out before redis-py sees it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel
import sniffio

from queue_core import InvalidBrokerURL
from queue_redis.wire.pipelined import PipelinedThreadTransport, PipelinedTransport
from queue_redis.wire.pubsub import ClusterNodeClients
from queue_redis.wire.redis_asyncio import AsyncioTransport
from queue_redis.wire.redis_sync import ThreadTransport
from queue_redis.wire.transport import Transport

_log = logging.getLogger("queue_redis")

URL_FORM = (
    "redis://[user:password@]host:port[/db], rediss://..., unix:///path.sock, "
    "redis+cluster://host:port or redis+sentinel://host:port[,host:port]/service[/db]"
)


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed broker URL."""

    kind: str  # "standalone" | "cluster" | "sentinel"
    url: str  # what redis-py gets (prefix removed, scheme normalised)
    prefix: str | None
    tls: bool


def parse(url: str) -> Target:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for name, value in query if name == "prefix"), None)
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    base, _, topology = parts.scheme.partition("+")
    if base not in ("redis", "rediss", "unix") or topology not in ("", "cluster", "sentinel"):
        raise InvalidBrokerURL("url", url, URL_FORM)
    if base == "unix" and topology:
        raise InvalidBrokerURL("url", url, URL_FORM)
    plain = urlunsplit(parts._replace(scheme=base, query=rest))
    return Target(topology or "standalone", plain, prefix, base == "rediss")


def node_url(url: str, host: str, port: int) -> str:
    """``url`` (credentials, TLS, options) pointed at another node of the same cluster."""
    parts = urlsplit(url)
    credentials, at, _ = parts.netloc.rpartition("@")
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=f"{credentials}{at}{address}"))


def open_transport(target: Target, options: dict[str, Any]) -> tuple[Transport, bool]:
    """The transport for the running async library, and whether it talks to a cluster.

    Which one serves the URL is logged at DEBUG on the ``queue_redis`` logger (docs/redis.md)."""
    transport, cluster = _open_transport(target, options)
    why = _redis_py_reason(target, options)
    _log.debug(
        "redis %s: %s%s", target.kind, type(transport).__name__, "" if why is None else f" (redis-py path: {why})"
    )
    return transport, cluster


def _open_transport(target: Target, options: dict[str, Any]) -> tuple[Transport, bool]:
    asyncio = sniffio.current_async_library() == "asyncio"
    try:
        if target.kind == "cluster":
            if asyncio:
                client = redis.asyncio.cluster.RedisCluster.from_url(target.url, **options)

                def node(host: str, port: int) -> Any:
                    return redis.asyncio.from_url(node_url(target.url, host, port), **options)

                return AsyncioTransport(client, cluster=True, cluster_nodes=ClusterNodeClients(client, node)), True
            return ThreadTransport(redis.cluster.RedisCluster.from_url(target.url, **options), cluster=True), True
        if target.kind == "sentinel":
            return _sentinel(target, options, asyncio), False
        if asyncio:
            plain = redis.asyncio.from_url(target.url, **options)
            connection = _pipelined(target, plain, options, anyio_streams=False)
            if connection is not None:
                return PipelinedTransport(plain, connection), False
            return AsyncioTransport(plain), False
        sync = redis.from_url(target.url, **options)
        connection = _pipelined(target, sync, options, anyio_streams=True)
        if connection is not None:
            return PipelinedThreadTransport(sync, connection), False
        return ThreadTransport(sync), False
    except (ValueError, redis.RedisError) as exc:
        raise InvalidBrokerURL("url", target.url, f"{URL_FORM} ({exc})") from exc


#: client options the pipelined connection honours; any other sends every call through redis-py.
_PIPELINED_OPTIONS = {"socket_connect_timeout", "socket_timeout"}


def _pipelined(target: Target, client: Any, options: dict[str, Any], *, anyio_streams: bool) -> Any:
    """A pipelined hiredis connection for script calls (``queue_redis.wire.resp``: asyncio's
    protocol, or anyio streams for trio), or None when hiredis is missing or the URL or
    options need redis-py (TLS, extra options)."""
    if _redis_py_reason(target, options) is not None:
        return None
    try:
        from queue_redis.wire.resp import AnyioRespConnection, RespConnection
    except ImportError:  # hiredis is not installed
        return None
    kwargs = client.connection_pool.connection_kwargs
    kind = AnyioRespConnection if anyio_streams else RespConnection
    return kind(
        host=kwargs.get("host", "localhost"),
        port=int(kwargs.get("port", 6379)),
        path=kwargs.get("path"),
        db=int(kwargs.get("db") or 0),
        username=kwargs.get("username"),
        password=kwargs.get("password"),
        connect_timeout=kwargs.get("socket_connect_timeout"),
        timeout=kwargs.get("socket_timeout"),
    )


def _redis_py_reason(target: Target, options: dict[str, Any]) -> str | None:
    """Why calls go through redis-py rather than the pipelined connection, or None."""
    if target.kind != "standalone":
        return f"{target.kind} topology"
    if target.tls:
        return "TLS"
    if urlsplit(target.url).query:
        return "options in the URL's query string"
    extra = sorted(set(options) - _PIPELINED_OPTIONS)
    if extra:
        return f"client options {', '.join(extra)}"
    return None


def _sentinel(target: Target, options: dict[str, Any], asyncio: bool) -> Transport:
    parts = urlsplit(target.url)
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        raise InvalidBrokerURL("url", target.url, "redis+sentinel://host:port[,host:port]/<service name>[/<db>]")
    service, db = segments[0], int(segments[1]) if len(segments) > 1 else 0
    hosts = parts.netloc.rpartition("@")[2]
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        sentinels.append((name or host, int(port) if port else 26379))
    query = dict(parse_qsl(parts.query))
    sentinel_kwargs = {"password": query.pop("sentinel_password")} if "sentinel_password" in query else {}
    data = {**options, "db": db, "ssl": target.tls}
    if parts.username:
        data["username"] = unquote(parts.username)
    if parts.password:
        data["password"] = unquote(parts.password)
    # redis-py before 8.2 leaves the Sentinel classes untyped; 8.2 types them.
    if asyncio:
        sentinel = redis.asyncio.sentinel.Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs, **data)  # type: ignore[no-untyped-call, unused-ignore]
        return AsyncioTransport(sentinel.master_for(service))
    sync = redis.sentinel.Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs, **data)  # type: ignore[no-untyped-call, unused-ignore]
    return ThreadTransport(sync.master_for(service))  # type: ignore[no-untyped-call, unused-ignore]
