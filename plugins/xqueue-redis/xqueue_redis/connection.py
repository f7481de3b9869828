"""One backend instance's way to Redis, the Lua scripts, and error translation.

A :class:`Connection` talks over lean lanes (:mod:`xqueue_redis.lane`) on plain
``redis://`` URLs and never imports redis-py then; ``rediss://``, ``lane=false``
and redis-py-only options get a redis-py client instead. Both give the same raw
replies (hiredis's parse: no per-command conversion). Each is built in
:meth:`Connection.open`, on the running event loop (the core's lease keeper
runs its own store instance on a thread of its own). Commands that fail on a
broken connection are retried on a new one with exponential backoff, so a
Redis restart stalls callers for a moment instead of failing them; anything
else becomes a :class:`~xqueue_core.errors.BackendError` naming the URL (never
its password).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from xqueue_core.errors import BackendError

from .keys import Keys
from .lane import CommandArgs, Lane, ReplyError
from .url import RedisSettings

EVENTS_MAX = 10_000  # the event log keeps about this many events
IDLE_BLOCKING_LANES = 2  # kept open for the next blocking read (more are closed)
BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0
OPS = (
    "announce",
    "cancel",
    "claim",
    "counts",
    "create",
    "debounce",
    "delete_schedule",
    "discard",
    "finish",
    "fire_schedules",
    "get",
    "heartbeat",
    "key_limits",
    "key_usage",
    "key_weights",
    "list",
    "maintain",
    "mark_queued",
    "mark_unqueued",
    "parent_results",
    "paused",
    "progress",
    "put_schedule",
    "rates",
    "running",
    "schedules",
    "set_key_limit",
    "set_key_weight",
    "set_limit",
    "set_rate",
    "take_due",
    "workflow_tasks",
    "workers",
)


def lua_source(name: str) -> str:
    """The text of ``lua/{name}.lua``."""
    return resources.files("xqueue_redis").joinpath("lua", f"{name}.lua").read_text("utf-8")


def build_scripts(prelude: str, names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Each named script with ``prelude`` (shared functions) first, and its SHA1
    (what EVALSHA names it by)."""
    out: dict[str, tuple[str, str]] = {}
    for name in names:
        text = prelude + "\n" + lua_source(name)
        out[name] = (text, hashlib.sha1(text.encode()).hexdigest())
    return out


SCRIPTS = build_scripts(lua_source("common").replace("__EVENTS_MAX__", str(EVENTS_MAX)), OPS)


class Connection:
    """Lanes (or a redis-py client) for one backend instance, plus script calls."""

    def __init__(self, url: RedisSettings, keys: Keys) -> None:
        self.url = url
        self.keys = keys
        self._client: Any = None  # redis-py, when the URL needs it
        self._lane: Lane | None = None
        self._idle_blocking: list[Lane] = []  # lanes for blocking reads, free
        self._busy_blocking: set[Lane] = set()
        self._lane_args = _lane_args(url) if url.lane else {}

    @property
    def is_open(self) -> bool:
        return self._lane is not None or self._client is not None

    async def open(self) -> None:
        """Connect and check that Redis answers: an unreachable Redis fails at once, one
        still loading its data (after a restart) is waited for, as calls do later."""
        if self.is_open:
            return
        if self.url.lane:
            lane = self._new_lane()
            await self._first_ping(lambda: lane.execute("PING"), lane.close)
            self._lane = lane
            return
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff, NoBackoff

        # RESP2, as on a lane: redis-py 6+ may speak RESP3, whose maps (HGETALL, XREAD,
        # XINFO) the scripts' callers do not expect; and replies as hiredis parses them
        client = Redis.from_url(
            self.url.connect_url,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
            protocol=2,
        )
        client.response_callbacks.clear()
        await self._first_ping(client.ping, client.aclose)
        client.set_retry(
            Retry(ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE), self.url.retries)
        )
        self._client = client

    async def _first_ping(
        self, ping: Callable[[], Awaitable[Any]], give_up: Callable[[], Awaitable[Any]]
    ) -> None:
        failures = 0
        while True:
            try:
                await ping()
                return
            except Exception as exc:
                if not _loading(exc) or failures >= self.url.retries:
                    await give_up()
                    raise self.error(exc, "cannot connect") from None
            await asyncio.sleep(_backoff(failures))
            failures += 1

    async def close(self) -> None:
        lanes = [*self._idle_blocking, *self._busy_blocking]
        if self._lane is not None:
            lanes.append(self._lane)
        self._lane = None
        self._idle_blocking.clear()
        self._busy_blocking.clear()
        for lane in lanes:
            await lane.close()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def error(self, exc: BaseException, doing: str) -> BackendError:
        reason = str(exc) or type(exc).__name__
        return BackendError(f"Redis {self.url.redacted}: {doing}: {reason}")

    def _not_open(self) -> BackendError:
        return BackendError(f"Redis {self.url.redacted}: the backend is not open")

    async def commands(
        self, doing: str, commands: Sequence[CommandArgs], *, transaction: bool = False
    ) -> list[Any]:
        """Send ``commands`` together (in one MULTI/EXEC with ``transaction``); their
        replies in order, an error reply as a :class:`ReplyError` in its place."""
        if self._lane is not None:
            lane = self._lane
            if not transaction:
                return await self._on_lane(doing, lambda: lane.send(commands))

            async def in_multi() -> list[Any]:
                replies = await lane.send([["MULTI"], *commands, ["EXEC"]])
                for reply in replies[:-1]:  # a command refused while queueing aborts it all
                    if isinstance(reply, ReplyError):
                        return [reply]
                done: list[Any] = replies[-1]
                return [done] if isinstance(done, ReplyError) else done

            return await self._on_lane(doing, in_multi)
        if self._client is None:
            raise self._not_open()
        from redis.exceptions import RedisError, ResponseError

        pipe = self._client.pipeline(transaction=transaction)
        for command in commands:
            pipe.execute_command(*command)
        try:
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        except ResponseError as exc:  # EXECABORT
            return [_reply_error(exc)]
        except (RedisError, OSError) as exc:
            raise self.error(exc, doing) from None
        return [_reply_error(r) if isinstance(r, ResponseError) else r for r in replies]

    async def command(self, doing: str, *argv: Any) -> Any:
        """One command that does not block; its reply (an error reply raises)."""
        return self.answer(doing, await self._reply(doing, argv))

    async def _reply(self, doing: str, argv: CommandArgs) -> Any:
        """One command's reply, an error reply as a :class:`ReplyError` (not raised)."""
        if self._client is None:
            return (await self.commands(doing, [argv]))[0]
        from redis.exceptions import RedisError, ResponseError

        try:  # not a one-command pipeline: redis-py's pipelines cost more
            return await self._client.execute_command(*argv)
        except ResponseError as exc:
            return _reply_error(exc)
        except (RedisError, OSError) as exc:
            raise self.error(exc, doing) from None

    async def transaction(self, doing: str, commands: Sequence[CommandArgs]) -> list[Any]:
        """Run ``commands`` in one MULTI/EXEC; their replies (an error reply raises)."""
        replies = await self.commands(doing, commands, transaction=True)
        for reply in replies:
            self.answer(doing, reply)
        return replies

    def answer(self, doing: str, reply: Any) -> Any:
        """``reply``, unless it is an error reply: then a BackendError."""
        if isinstance(reply, ReplyError):
            raise self.error(reply, doing)
        return reply

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
        reply = await self._reply(doing, argv)
        if isinstance(reply, ReplyError) and str(reply).startswith("NOSCRIPT"):
            await self.command(doing, "SCRIPT", "LOAD", text)  # first use here, or a restart
            reply = await self._reply(doing, argv)
        return self.answer(doing, reply)

    async def blocking_read(self, doing: str, argv: Sequence[Any], blocks: float) -> Any:
        """A blocking read (XREAD/XREADGROUP ... BLOCK) that may wait ``blocks`` seconds;
        each one at a time has a lane of its own. Stream entries in its reply are
        ``[id, [field, value, ...]]`` (:func:`~xqueue_redis.codec.pairs` reads them)."""
        if self._client is not None:
            return await self.command(doing, *argv)
        if self._lane is None:
            raise self._not_open()
        lane = self._idle_blocking.pop() if self._idle_blocking else self._new_lane()
        self._busy_blocking.add(lane)
        done = False
        try:
            replies = await self._on_lane(doing, lambda: lane.send([argv], blocks))
            done = True
        finally:
            self._busy_blocking.discard(lane)
            if done and self._lane is not None and len(self._idle_blocking) < IDLE_BLOCKING_LANES:
                self._idle_blocking.append(lane)
            else:  # cancelled mid-read (its reply is still to come), closed, or extra
                await lane.close()
        return self.answer(doing, replies[0])

    def _new_lane(self) -> Lane:
        return Lane(**self._lane_args)

    async def _on_lane(self, doing: str, run: Callable[[], Awaitable[list[Any]]]) -> list[Any]:
        """``run()`` on a lane; a lost connection is retried on a new one with
        exponential backoff (as redis-py's retries), an error reply is the answer."""
        failures = 0
        while True:
            try:
                replies = await run()
                # a restarted Redis still reading its AOF/RDB: retried (as redis-py does);
                # any other error reply is the answer
                loading = [r for r in replies if isinstance(r, ReplyError) and _loading(r)]
                if not loading:
                    return replies
                if failures >= self.url.retries:
                    raise self.error(loading[0], doing)
            except (OSError, TimeoutError) as exc:
                if self._lane is None:  # closed under the call: do not connect again
                    raise self._not_open() from None
                # The lane already dropped the broken connection; the next call opens a
                # new one. (Not reset here: by now it may be another caller's new one.)
                if failures >= self.url.retries:
                    raise self.error(exc, doing) from None
            await asyncio.sleep(_backoff(failures))
            failures += 1


def _loading(error: Exception) -> bool:
    """Whether Redis answered LOADING (still reading its data after a restart);
    redis-py drops the code from its message: "Redis is loading the dataset ..."."""
    text = str(error)
    return text.startswith("LOADING") or "loading the dataset" in text


def _lane_args(url: RedisSettings) -> dict[str, Any]:
    """What a :class:`Lane` to this URL is built from (parsed once per backend)."""
    parts = urlsplit(url.connect_url)
    db = parts.path.strip("/")
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or 6379,
        "db": int(db) if db else 0,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password is not None else None,
        "connect_timeout": url.socket_connect_timeout,
        "timeout": url.socket_timeout,
        "client_name": parse_qs(parts.query).get("client_name", [None])[0],
    }


def _backoff(failures: int) -> float:
    """Seconds before the next try: 50 ms doubling up to 2 s (redis-py's backoff)."""
    return float(min(BACKOFF_CAP, BACKOFF_BASE * 2**failures))


def _reply_error(exc: Exception) -> ReplyError:
    """A redis-py error reply as the lanes give it: redis-py drops the code (NOSCRIPT)
    of the errors it has a class for."""
    from redis.exceptions import NoScriptError

    return ReplyError(f"NOSCRIPT {exc}" if isinstance(exc, NoScriptError) else str(exc))
