"""One connection pool per backend instance, the Lua scripts, and error translation.

Each :class:`Connection` builds its pool in :meth:`Connection.open`, on the
running event loop (the core's lease keeper runs its own store instance on a
thread of its own). Commands that fail on a broken connection are retried on
a new one with exponential backoff, so a Redis restart stalls callers for a
moment instead of failing them; anything else becomes a
:class:`~xqueue_core.errors.BackendError` naming the URL (never its password).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any, TypeVar

from xqueue_core.errors import BackendError

from .keys import Keys
from .lane import Lane, LaneError
from .url import RedisURL

T = TypeVar("T")
EVENTS_MAX = 10_000  # the event log keeps about this many events
BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0
OPS = (
    "announce",
    "cancel",
    "claim",
    "counts",
    "create",
    "discard",
    "finish",
    "get",
    "heartbeat",
    "list",
    "maintain",
    "mark_queued",
    "progress",
    "running",
    "set_limit",
    "take_due",
)


def _source(name: str) -> str:
    return resources.files("xqueue_redis").joinpath("lua", f"{name}.lua").read_text("utf-8")


def with_sha(text: str) -> tuple[str, str]:
    """A Lua script and its SHA1 (what EVALSHA names it by)."""
    return text, hashlib.sha1(text.encode()).hexdigest()


def _build_scripts() -> dict[str, tuple[str, str]]:
    common = _source("common").replace("__EVENTS_MAX__", str(EVENTS_MAX))
    return {op: with_sha(common + "\n" + _source(op)) for op in OPS}


SCRIPTS = _build_scripts()


class Connection:
    """A redis-py asyncio client for one backend instance, plus script calls."""

    def __init__(self, url: RedisURL, keys: Keys) -> None:
        self.url = url
        self.keys = keys
        self._client: Any = None
        self._lane: Lane | None = None
        self._blocking_lane: Lane | None = None  # one blocking read at a time
        self._blocking_busy = False

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError(f"the Redis backend {self.url.redacted} is not open")
        return self._client

    async def open(self) -> None:
        """Create the pool on this loop and check that Redis answers (no retries here)."""
        if self._client is not None:
            return
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff, NoBackoff

        client = Redis.from_url(
            self.url.connect_url,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            await client.ping()
        except Exception as exc:
            await client.aclose()
            raise self.error(exc, "cannot connect") from None
        client.set_retry(
            Retry(ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE), self.url.retries)
        )
        self._client = client
        self._lane = _lane_for(client, self.url)
        self._blocking_lane = _lane_for(client, self.url)

    async def close(self) -> None:
        for lane in (self._lane, self._blocking_lane):
            if lane is not None:
                await lane.close()
        self._lane = self._blocking_lane = None
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def error(self, exc: BaseException, doing: str) -> BackendError:
        reason = str(exc) or type(exc).__name__
        return BackendError(f"Redis {self.url.redacted}: {doing}: {reason}")

    async def call(self, doing: str, make: Callable[[], Awaitable[T]]) -> T:
        """Await ``make()``; a Redis or network failure becomes a BackendError."""
        from redis.exceptions import RedisError

        try:
            return await make()
        except (RedisError, OSError) as exc:
            raise self.error(exc, doing) from None

    async def script(
        self, op: str, args: Sequence[Any], keys: Sequence[str] = ()
    ) -> tuple[Any, list[Any]]:
        """Run one store script; returns its result and the events it caused.

        ``keys`` are more keys it touches, after the app's anchor key (KEYS[1]).
        """
        text, sha = SCRIPTS[op]
        reply = await self.evalsha(
            op, text, sha, [self.keys.anchor, *keys], [self.keys.base, *args]
        )
        return reply[0], reply[1]

    async def evalsha(
        self, doing: str, text: str, sha: str, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """Run a Lua script by its SHA1, loading it first when the server lacks it."""
        argv = ("EVALSHA", sha, len(keys), *keys, *args)
        if self._lane is not None:
            lane = self._lane

            async def on_lane() -> Any:
                try:
                    return await lane.execute(*argv)
                except LaneError as exc:
                    if not str(exc).startswith("NOSCRIPT"):
                        raise
                await lane.execute("SCRIPT", "LOAD", text)  # first use here, or a restart
                return await lane.execute(*argv)

            return await self._on_lane(doing, on_lane)

        from redis.exceptions import NoScriptError

        client = self.client

        async def run() -> Any:
            try:
                return await client.execute_command(*argv)
            except NoScriptError:
                await client.script_load(text)
                return await client.execute_command(*argv)

        return await self.call(doing, run)

    async def command(self, doing: str, *argv: Any) -> Any:
        """One command that does not block; its raw reply on a lane (redis-py may parse
        some replies: use it only where both forms read the same)."""
        if self._lane is not None:
            lane = self._lane
            return await self._on_lane(doing, lambda: lane.execute(*argv))
        client = self.client
        return await self.call(doing, lambda: client.execute_command(*argv))

    async def blocking_read(self, doing: str, argv: Sequence[Any], blocks: float) -> Any:
        """A blocking read (XREAD/XREADGROUP ... BLOCK) that may wait ``blocks`` seconds.

        Its reply is raw RESP: stream entries are ``[id, [field, value, ...]]``
        (:func:`fields_dict` reads either form). One read at a time has a lane
        of its own; a second one meanwhile goes through redis-py.
        """
        lane = self._blocking_lane
        if lane is not None and not self._blocking_busy:
            self._blocking_busy = True
            try:
                return await self._on_lane(doing, lambda: lane.execute(*argv, blocks=blocks))
            finally:
                self._blocking_busy = False
        client = self.client
        return await self.call(doing, lambda: client.execute_command(*argv))

    async def transaction(self, doing: str, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Run ``commands`` in one MULTI/EXEC; their replies."""
        if self._lane is not None:
            lane = self._lane

            async def on_lane() -> list[Any]:
                replies = await lane.pipeline([["MULTI"], *commands, ["EXEC"]])
                results: list[Any] = replies[-1]
                for result in results:
                    if isinstance(result, LaneError):
                        raise result
                return results

            return await self._on_lane(doing, on_lane)

        async def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=True)
            for command in commands:
                pipe.execute_command(*command)
            results: list[Any] = await pipe.execute()
            return results

        return await self.call(doing, run)

    async def _on_lane(self, doing: str, run: Callable[[], Awaitable[T]]) -> T:
        """``run()`` on a lane; a lost connection is retried on a new one with the
        same backoff as the redis-py client's commands, an error reply is final."""
        failures = 0
        while True:
            try:
                return await run()
            except LaneError as exc:
                # LOADING: a restarted Redis still reading its AOF/RDB (redis-py retries it
                # as a connection error); any other error reply is the answer
                if not str(exc).startswith("LOADING") or failures >= self.url.retries:
                    raise self.error(exc, doing) from None
            except (OSError, TimeoutError) as exc:
                # The lane already dropped the broken connection; the next call opens a
                # new one. (Not reset here: by now it may be another caller's new one.)
                if failures >= self.url.retries:
                    raise self.error(exc, doing) from None
            await asyncio.sleep(min(BACKOFF_CAP, BACKOFF_BASE * 2**failures))
            failures += 1


def fields_dict(fields: Any) -> dict[str, Any]:
    """A stream entry's fields as a dict: redis-py parses them into one, a lane's raw
    reply has them as a flat ``[field, value, ...]`` list."""
    if isinstance(fields, dict):
        return fields
    return dict(zip(fields[::2], fields[1::2], strict=True))


def _lane_for(client: Any, url: RedisURL) -> Lane | None:
    """A lane when the URL asks for one (``lane=true``) on plain TCP (None for TLS or
    a Unix socket: redis-py only)."""
    if not url.lane or url.tls:
        return None
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs or "host" not in kwargs:
        return None
    return Lane(
        host=kwargs["host"],
        port=int(kwargs.get("port") or 6379),
        db=int(kwargs.get("db") or 0),
        username=kwargs.get("username"),
        password=kwargs.get("password"),
        connect_timeout=url.connect_timeout,
        timeout=url.socket_timeout,
    )
