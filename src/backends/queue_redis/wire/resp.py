"""One pipelined asyncio connection for script calls, parsed by hiredis.

redis.asyncio spends most of a round trip in its own machinery (a pool checkout, a
command packer in Python, a reader task per reply), about three times what the wire
costs on a small machine. Script calls -- every transition the worker and the client
make -- are plain request/reply with no blocking command, so they share one connection
here: a request is packed by hiredis and written at once, its future is queued, and
the protocol resolves futures in order as replies arrive. Concurrent callers pipeline
on the socket for free.

Used by ``PipelinedTransport`` under asyncio for plain ``redis://`` and ``unix://``
URLs when hiredis is installed; everything else (TLS, Cluster, Sentinel, pub/sub,
plain commands) stays on redis-py. Failures are redis-py's exceptions, so the
transport's error mapping applies unchanged.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import hiredis
import redis
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    ExecAbortError,
    MasterDownError,
    MaxClientsReachedError,
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)


def handshake(username: str | None, password: str | None, db: int) -> list[tuple[Any, ...]]:
    """What a new connection sends before anything else: AUTH (with the ACL user when one is
    named), then SELECT for a database other than 0."""
    commands: list[tuple[Any, ...]] = []
    if password is not None:
        commands.append(("AUTH", password) if username is None else ("AUTH", username, password))
    if db:
        commands.append(("SELECT", db))
    return commands


class _Protocol(asyncio.Protocol):
    """Futures resolved in order as replies arrive. One watchdog timer per connection
    (not one per request) fails everything in flight when the oldest request has waited
    ``timeout`` seconds for its reply."""

    def __init__(self, timeout: float | None, where: str) -> None:
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.sent_at: collections.deque[float] = collections.deque()  # per waiting future
        self.transport: asyncio.Transport | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lost: Exception | None = None
        self.timeout, self.where = timeout, where
        self.watchdog: asyncio.TimerHandle | None = None
        #: requests held for one write (see ``send``)
        self.corked: list[bytes] = []
        #: closes the transport when the event loop shuts down (``closed_with_the_loop``).
        self.closer: AsyncGenerator[None, None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.loop = asyncio.get_running_loop()

    def send(self, futures: list[asyncio.Future[Any]], data: bytes) -> None:
        """Write ``data`` at once when nothing is in flight (a lone caller waits for no
        one); otherwise hold it until the loop has run every task that is ready, so the
        requests of concurrent callers (many tasks enqueueing) leave in one write: one
        system call here, one read and one reply write in Redis, instead of one each."""
        assert self.transport is not None and self.loop is not None
        now = self.loop.time()
        idle = not self.waiting
        self.waiting.extend(futures)
        self.sent_at.extend(now for _ in futures)
        if idle and not self.corked:
            self.transport.write(data)
        else:
            if not self.corked:
                self.loop.call_soon(self._flush)
            self.corked.append(data)
        if self.timeout is not None and self.watchdog is None:
            self.watchdog = self.loop.call_at(now + self.timeout, self._watch)

    def _flush(self) -> None:
        data, self.corked = b"".join(self.corked), []
        if self.transport is not None and self.lost is None:
            self.transport.write(data)

    def _watch(self) -> None:
        assert self.loop is not None and self.timeout is not None
        self.watchdog = None
        if not self.sent_at:
            return
        due = self.sent_at[0] + self.timeout
        if self.loop.time() < due:
            self.watchdog = self.loop.call_at(due, self._watch)
            return
        # No reply in time: this connection's replies can no longer be matched. Drop it.
        self._fail(redis.TimeoutError(f"Redis at {self.where} did not answer within {self.timeout}s"))
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        reader, waiting, sent_at = self.reader, self.waiting, self.sent_at
        reader.feed(data)
        while (reply := reader.gets()) is not False:
            future = waiting.popleft()
            sent_at.popleft()
            if not future.done():  # a cancelled caller's reply is read and dropped
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(redis.ConnectionError(f"connection to Redis lost: {exc or 'closed by the server'}"))

    def _fail(self, error: Exception) -> None:
        if self.lost is None:
            self.lost = error
        self.sent_at.clear()
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None


async def closed_with_the_loop(transport: asyncio.BaseTransport) -> AsyncGenerator[None, None]:
    """Suspended, once started, for as long as its event loop runs. ``asyncio.run`` (and
    anyio's runner) closes the async generators still suspended before it closes the
    loop, so ``transport`` is closed while its loop can still release the socket. A
    connection left open by a finished ``asyncio.run`` (a ``SyncClient`` call, a script
    run twice) would otherwise hold its socket until the garbage collector found it."""
    try:
        yield
    finally:
        transport.close()


class RespConnection:
    """Request/reply over one connection, opened on first use and again after a loss.

    ``timeout`` bounds the wait for each reply (redis-py's ``socket_timeout``): a server
    that does not answer in time has its connection dropped, failing every request in
    flight on it with ``redis.TimeoutError``.
    """

    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float | None = None,
        timeout: float | None = None,
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.db, self.username, self.password = db, username, password
        self.connect_timeout, self.timeout = connect_timeout, timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._connecting_loop: asyncio.AbstractEventLoop | None = None

    async def _connected(self) -> _Protocol:
        protocol, loop = self._protocol, asyncio.get_running_loop()
        if protocol is not None and protocol.lost is None and protocol.loop is loop:
            return protocol
        if self._connecting is None or self._connecting_loop is not loop:
            # A connection (and a lock) belongs to the event loop that made it: a broker
            # used from a new loop (a SyncClient call, a new anyio.run) connects anew.
            self._connecting, self._connecting_loop = asyncio.Lock(), loop
        async with self._connecting:
            protocol = self._protocol
            if protocol is not None and protocol.lost is None and protocol.loop is loop:
                return protocol
            if protocol is not None and protocol.loop is not loop and protocol.transport is not None:
                # A loop that still runs (another thread's) can close it; a finished one
                # closed it on its way out (closed_with_the_loop).
                with contextlib.suppress(Exception):
                    protocol.transport.abort()
            try:

                def factory() -> _Protocol:
                    return _Protocol(self.timeout, self._where())

                if self.path is not None:
                    connecting = loop.create_unix_connection(factory, self.path)
                else:
                    connecting = loop.create_connection(factory, self.host, self.port)
                _, protocol = await asyncio.wait_for(connecting, self.connect_timeout)
            except (TimeoutError, OSError) as exc:
                raise redis.ConnectionError(f"cannot connect to Redis at {self._where()}: {exc}") from exc
            assert protocol is not None and protocol.transport is not None
            protocol.closer = closed_with_the_loop(protocol.transport)
            await protocol.closer.asend(None)
            self._protocol = protocol
            commands = handshake(self.username, self.password, self.db)
            if commands:
                for reply in await self.send(commands):
                    if isinstance(reply, Exception):
                        await self.close()
                        raise reply
            return protocol

    def _where(self) -> str:
        return self.path if self.path is not None else f"{self.host}:{self.port}"

    async def send(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` in one write; their replies in order. An error reply comes
        back as a redis-py exception instance (not raised), like a pipeline's."""
        protocol = await self._connected()
        futures = [protocol.loop.create_future() for _ in commands]  # type: ignore[union-attr]
        protocol.send(futures, b"".join(hiredis.pack_command(tuple(command)) for command in commands))
        replies = [await future for future in futures]
        return [_error(reply) if isinstance(reply, hiredis.ReplyError) else reply for reply in replies]

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
            if protocol.closer is not None and protocol.loop is asyncio.get_running_loop():
                await protocol.closer.aclose()

    def subscription(self) -> RespSubscription:
        """A subscriber connection to the same server (pub/sub needs its own)."""
        return RespSubscription(self)


class _SubscriberProtocol(asyncio.Protocol):
    """A subscribed connection: messages are queued; every other reply (subscribe
    confirmations, AUTH) answers the oldest pending request."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.messages: collections.deque[bytes] = collections.deque()
        self.requests: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if isinstance(reply, list) and reply and reply[0] == b"message":
                self.messages.append(reply[2])
                if self.waiter is not None and not self.waiter.done():
                    self.waiter.set_result(None)
            elif self.requests:
                future = self.requests.popleft()
                if not future.done():
                    future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = redis.ConnectionError(f"subscription to Redis lost: {exc or 'closed by the server'}")
        while self.requests:
            future = self.requests.popleft()
            if not future.done():
                future.set_exception(self.lost)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)


class RespSubscription:
    """One subscriber connection, subscribed to a growing set of channels.

    ``receive`` returns the messages published since the last call as soon as there is
    one, or [] after ``timeout``; messages that arrive between calls are kept. A new
    channel is subscribed (and confirmed by the server) before the wait begins. On a lost
    connection it raises; the next call connects and subscribes again.
    """

    def __init__(self, server: RespConnection) -> None:
        self._server = server
        self._protocol: _SubscriberProtocol | None = None
        self._channels: set[str] = set()

    async def _request(self, protocol: _SubscriberProtocol, command: Sequence[Any], replies: int) -> list[Any]:
        assert protocol.transport is not None
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(replies)]
        protocol.requests.extend(futures)
        protocol.transport.write(hiredis.pack_command(tuple(command)))
        async with asyncio.timeout(self._server.timeout or self._server.connect_timeout):
            answers = [await future for future in futures]
        for answer in answers:
            if isinstance(answer, hiredis.ReplyError):
                raise _error(answer)
        return answers

    async def _connected(self) -> _SubscriberProtocol:
        protocol = self._protocol
        if protocol is not None and protocol.lost is None:
            return protocol
        server, loop = self._server, asyncio.get_running_loop()
        try:
            if server.path is not None:
                connecting = loop.create_unix_connection(_SubscriberProtocol, server.path)
            else:
                connecting = loop.create_connection(_SubscriberProtocol, server.host, server.port)
            _, protocol = await asyncio.wait_for(connecting, server.connect_timeout)
        except (TimeoutError, OSError) as exc:
            raise redis.ConnectionError(f"cannot connect to Redis at {server._where()}: {exc}") from exc
        assert protocol is not None
        self._protocol, self._channels = protocol, set()
        for command in handshake(server.username, server.password, db=0):  # pub/sub ignores the db
            await self._request(protocol, command, 1)
        return protocol

    async def receive(self, channels: Sequence[str], timeout: float) -> list[bytes]:
        try:
            protocol = await self._connected()
            new = [channel for channel in dict.fromkeys(channels) if channel not in self._channels]
            if new:
                await self._request(protocol, ("SUBSCRIBE", *new), len(new))
                self._channels.update(new)
            if not protocol.messages and timeout > 0:
                loop = asyncio.get_running_loop()
                protocol.waiter = waiter = loop.create_future()
                timer = loop.call_later(timeout, _resolve, waiter)
                try:
                    await waiter
                finally:
                    timer.cancel()
                    protocol.waiter = None
            if protocol.lost is not None:
                raise protocol.lost
            messages = list(protocol.messages)
            protocol.messages.clear()
            return messages
        except (redis.ConnectionError, TimeoutError, OSError):
            await self.close()
            raise

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


#: error codes -> the redis-py exception that redis-py's own parser raises for them (the
#: cluster redirections are left out: this connection never talks to a cluster).
_ERROR_CODES: dict[str, type[redis.RedisError]] = {
    "NOSCRIPT": NoScriptError,
    "WRONGPASS": AuthenticationError,
    "NOAUTH": AuthenticationError,
    "NOPERM": NoPermissionError,
    "LOADING": BusyLoadingError,
    "READONLY": ReadOnlyError,
    "OOM": OutOfMemoryError,
    "EXECABORT": ExecAbortError,
    "MASTERDOWN": MasterDownError,
}
#: ``ERR`` replies that redis-py raises as something more specific than ResponseError.
_ERR_MESSAGES: dict[str, type[redis.RedisError]] = {
    "max number of clients reached": MaxClientsReachedError,
    "invalid password": AuthenticationError,
    "Client sent AUTH, but no password is set": AuthenticationError,
    "AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?": AuthenticationError,
}


def _error(reply: hiredis.ReplyError) -> Exception:
    """The redis-py exception for an error reply, as redis-py's parser makes it: the code
    (NOSCRIPT, WRONGPASS, ERR...) picks the class and a known code is cut from the message."""
    text = str(reply)
    code, _, message = text.partition(" ")
    if code in _ERROR_CODES:
        return _ERROR_CODES[code](message)
    if code == "ERR":
        return _ERR_MESSAGES.get(message, ResponseError)(message)
    return ResponseError(text)


async def stream_closed_with_the_run(stream: Any) -> AsyncGenerator[None, None]:
    """``closed_with_the_loop`` for an anyio stream: trio, like ``asyncio.run``, closes
    the async generators still suspended when its run ends."""
    import anyio

    try:
        yield
    finally:
        await anyio.aclose_forcefully(stream)


class _Slot:
    __slots__ = ("done", "reply")

    def __init__(self) -> None:
        self.done = False
        self.reply: Any = None


class AnyioRespConnection:
    """``RespConnection`` for any anyio backend (trio has no asyncio protocols).

    There is no reader task: a caller whose replies are missing takes the read lock and
    reads, handing out every reply that arrives to its own caller in order, until its
    own are in (the first in line reads for everyone behind it). A reader cancelled
    mid-read loses nothing (anyio's receive either returns data or is cancelled), and the
    next caller in line carries on. Writes are shielded, so a request is never half sent.
    """

    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float | None = None,
        timeout: float | None = None,
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.db, self.username, self.password = db, username, password
        self.connect_timeout, self.timeout = connect_timeout, timeout
        self._stream: Any = None
        self._reader = hiredis.Reader()
        self._waiting: collections.deque[_Slot] = collections.deque()
        self._read_lock: Any = None  # anyio.Locks, made in the running event loop
        self._send_lock: Any = None
        self._connect_lock: Any = None
        self._token: Any = None  # that loop's anyio token
        self._dead: list[Any] = []
        #: per stream of this loop: closes it when the loop ends (``stream_closed_with_the_run``).
        self._closers: dict[int, AsyncGenerator[None, None]] = {}

    def _where(self) -> str:
        return self.path if self.path is not None else f"{self.host}:{self.port}"

    async def _connected(self) -> Any:
        import anyio
        import anyio.lowlevel

        token = anyio.lowlevel.current_token()
        if self._stream is not None and self._token == token:
            return self._stream
        if self._token != token:
            # A stream (and a lock) belongs to the event loop that made it: a broker used
            # from a new loop connects anew.
            # The streams of the loop that ended were closed on its way out.
            self._stream, self._dead, self._closers, self._token = None, [], {}, token
            self._read_lock, self._send_lock, self._connect_lock = anyio.Lock(), anyio.Lock(), anyio.Lock()
        async with self._connect_lock:
            if self._stream is not None:  # another caller connected meanwhile
                return self._stream
            while self._dead:
                await self._forget(self._dead.pop())
            stream: Any
            try:
                with anyio.fail_after(self.connect_timeout):
                    if self.path is not None:
                        stream = await anyio.connect_unix(self.path)
                    else:
                        stream = await anyio.connect_tcp(self.host, self.port)
            except (TimeoutError, OSError) as exc:
                raise redis.ConnectionError(f"cannot connect to Redis at {self._where()}: {exc}") from exc
            closer = self._closers[id(stream)] = stream_closed_with_the_run(stream)
            await closer.asend(None)
            self._reader, self._waiting = hiredis.Reader(), collections.deque()
            commands = handshake(self.username, self.password, self.db)
            if commands:
                for reply in await self._exchange(stream, commands):
                    if isinstance(reply, Exception):
                        await self._forget(stream)
                        raise reply
            self._stream = stream
            return stream

    async def send(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """As ``RespConnection.send``."""
        return await self._exchange(await self._connected(), commands)

    async def _exchange(self, stream: Any, commands: Sequence[Sequence[Any]]) -> list[Any]:
        import anyio

        slots = [_Slot() for _ in commands]
        data = b"".join(hiredis.pack_command(tuple(command)) for command in commands)
        # Shielded: a request is never half sent. Queued under the lock, so the order of
        # the queue is the order on the wire.
        with anyio.CancelScope(shield=True):
            async with self._send_lock:
                self._waiting.extend(slots)
                try:
                    await stream.send(data)
                except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                    error = redis.ConnectionError(f"connection to Redis lost: {exc}")
                    self._drop(stream, error)
                    raise error from exc
        last = slots[-1]
        while not last.done:
            async with self._read_lock:
                await self._read_until(last, stream)
        replies = [slot.reply for slot in slots]
        for reply in replies:
            if isinstance(reply, Exception) and not isinstance(reply, hiredis.ReplyError):
                raise reply  # the connection failed under this request
        return [_error(reply) if isinstance(reply, hiredis.ReplyError) else reply for reply in replies]

    async def _read_until(self, last: _Slot, stream: Any) -> None:
        """As the reader: hand out replies in order until ``last`` has its own."""
        import anyio

        while not last.done:
            try:
                with anyio.fail_after(self.timeout):
                    chunk = await stream.receive()
            except TimeoutError:
                error: Exception = redis.TimeoutError(f"Redis at {self._where()} did not answer within {self.timeout}s")
                self._drop(stream, error)
                raise error from None
            except (OSError, anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                error = redis.ConnectionError(f"connection to Redis lost: {exc or 'closed by the server'}")
                self._drop(stream, error)
                raise error from exc
            self._reader.feed(chunk)
            while (reply := self._reader.gets()) is not False:
                slot = self._waiting.popleft()
                slot.reply, slot.done = reply, True

    def _drop(self, stream: Any, error: Exception) -> None:
        """The connection is unusable: fail every request still waiting on it (it is
        closed at the next connect, where awaiting is possible)."""
        if self._stream is not stream:
            return
        self._stream = None
        self._dead.append(stream)
        while self._waiting:
            slot = self._waiting.popleft()
            slot.reply, slot.done = error, True

    async def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                await stream.aclose()
            await self._forget(stream)

    async def _forget(self, stream: Any) -> None:
        """Close ``stream`` (a stream of the running loop) and its closer."""
        import anyio

        closer = self._closers.pop(id(stream), None)
        if closer is not None:
            await closer.aclose()  # closes the stream
        else:
            await anyio.aclose_forcefully(stream)
