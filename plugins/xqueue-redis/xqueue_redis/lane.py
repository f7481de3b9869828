"""A lean pipelined Redis connection: what ``redis://`` URLs talk over.

redis-py's asyncio client spends most of a loopback round trip on itself (a
task and a shield per command, a pool lock, timeouts, metrics): about 230 µs
per PING here against 50 µs for the same request written on a socket and
read back through hiredis; importing it costs each process ~5 MB. Every task
goes through several script calls in a row (submit, claim, finish, a waiter's
reads), so a lane carries them: one TCP connection, commands written as they
come (many callers share it, in order), replies parsed by hiredis and handed
back in the same order.

A blocking read gets a lane of its own (it would hold up everyone behind it).
A lane speaks plain TCP with AUTH, SELECT and CLIENT SETNAME; ``rediss://``
(TLS) and ``lane=false`` URLs use redis-py instead (``connection.py``).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from typing import Any, cast

import hiredis

CommandArgs = Sequence[Any]


class ReplyError(Exception):
    """Redis answered a command with an error (the text of its reply)."""


class LaneClosed(ConnectionError):
    """The connection was lost or closed before the reply came."""


def _encode(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):  # a bool is an int: refuse it like redis-py does
        raise TypeError("a bool is not a Redis argument")
    if isinstance(value, int | float):
        return repr(value).encode()
    raise TypeError(f"cannot send {type(value).__name__} to Redis")


def pack(args: CommandArgs) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _encode(arg)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(encoding="utf-8", replyError=ReplyError)
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport instances, but behave as one
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:  # garbage on the wire: give up the lane
                self.fail(LaneClosed(f"protocol error: {exc}"))
                return
            if reply is False:
                return
            if not self.waiting:  # a reply nobody asked for: the stream is out of step
                self.fail(LaneClosed("unexpected reply"))
                return
            future = self.waiting.popleft()
            if not future.done():  # its caller may have been cancelled
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(LaneClosed(str(exc) if exc else "connection closed"))

    def fail(self, exc: BaseException) -> None:
        self.lost = self.lost or exc
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(exc)
        if self.transport is not None:
            self.transport.close()


class Lane:
    """One pipelined connection, opened on first use and again after a failure."""

    def __init__(
        self,
        host: str,
        port: int,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float = 2.0,
        timeout: float = 5.0,
        client_name: str | None = None,
    ) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self.client_name = client_name
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def _ready(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and protocol.lost is None:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done():
                self._connecting = None
                if not connecting.cancelled():
                    connecting.exception()  # retrieved: the caller saw it

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
        hello: list[list[Any]] = []
        if self.password is not None:
            auth: list[Any] = ["AUTH", self.password]
            if self.username:
                auth = ["AUTH", self.username, self.password]
            hello.append(auth)
        if self.db:
            hello.append(["SELECT", self.db])
        if self.client_name:
            hello.append(["CLIENT", "SETNAME", self.client_name])
        if hello:
            try:
                for reply in await self._send(protocol, hello):
                    if isinstance(reply, ReplyError):
                        raise reply
            except BaseException:
                protocol.fail(LaneClosed("connection set-up failed"))
                raise
        self._protocol = protocol
        return protocol

    async def _send(
        self, protocol: _Protocol, commands: Sequence[CommandArgs], extra: float = 0.0
    ) -> list[Any]:
        assert protocol.transport is not None
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        protocol.waiting.extend(futures)
        protocol.transport.write(b"".join(pack(c) for c in commands))
        limit = self.timeout + extra
        try:
            async with asyncio.timeout(limit):
                return [await f for f in futures]
        except TimeoutError:
            # the replies still to come would be taken for other commands' replies
            protocol.fail(LaneClosed(f"no reply within {limit:g} s"))
            raise

    async def send(self, commands: Sequence[CommandArgs], blocks: float = 0.0) -> list[Any]:
        """Send several commands in one write; their replies in order, an error reply
        as a :class:`ReplyError` in its place (not raised).

        ``blocks``: how long a command may wait on the server (a blocking read), added
        to the reply timeout. Everything behind it on this lane waits as long.
        """
        protocol = await self._ready()
        return await self._send(protocol, commands, blocks)

    async def execute(self, *args: Any, blocks: float = 0.0) -> Any:
        """Send one command and return its reply; an error reply raises :class:`ReplyError`."""
        [reply] = await self.send([args], blocks)
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    def reset(self) -> None:
        """Drop the connection (the next call opens a new one)."""
        if self._protocol is not None:
            self._protocol.fail(LaneClosed("reset"))
            self._protocol = None

    async def close(self) -> None:
        self.reset()
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
