"""One connection pool per backend instance, the Lua scripts, and error translation.

Each :class:`Connection` builds its pool in :meth:`Connection.open`, on the
running event loop (the core's lease keeper runs its own store instance on a
thread of its own). Commands that fail on a broken connection are retried on
a new one with exponential backoff, so a Redis restart stalls callers for a
moment instead of failing them; anything else becomes a
:class:`~xqueue_core.errors.BackendError` naming the URL (never its password).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any, TypeVar

from xqueue_core.errors import BackendError

from .keys import Keys
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


def _build_scripts() -> dict[str, tuple[str, str]]:
    common = _source("common").replace("__EVENTS_MAX__", str(EVENTS_MAX))
    out: dict[str, tuple[str, str]] = {}
    for op in OPS:
        text = common + "\n" + _source(op)
        out[op] = (text, hashlib.sha1(text.encode()).hexdigest())
    return out


SCRIPTS = _build_scripts()


class Connection:
    """A redis-py asyncio client for one backend instance, plus script calls."""

    def __init__(self, url: RedisURL, keys: Keys) -> None:
        self.url = url
        self.keys = keys
        self._client: Any = None

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

    async def close(self) -> None:
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
        from redis.exceptions import NoScriptError

        text, sha = SCRIPTS[op]
        client = self.client
        argv = (self.keys.anchor, *keys, self.keys.base, *args)
        count = 1 + len(keys)

        async def run() -> Any:
            try:
                return await client.evalsha(sha, count, *argv)
            except NoScriptError:  # first use on this server, or it restarted
                await client.script_load(text)
                return await client.evalsha(sha, count, *argv)

        reply = await self.call(op, run)
        return reply[0], reply[1]
