"""RedisBroker: task messages on Redis Streams, one stream per priority band.

Every worker is a consumer of one group on the three band streams. A fetch is
one Lua script (reclaim idle entries of dead consumers, then read new ones,
band by band, up to the number asked for); when nothing is there it blocks in
one ``XREADGROUP … BLOCK`` on all bands. An ack is one script call: ``XACK``, then
``XTRIM MINID`` to the oldest entry some group still needs, so a stream holds its
entries from the oldest unacknowledged one on.
While a worker lives it resets the idle time of the entries it holds
(``XCLAIM … JUSTID``), so ``XAUTOCLAIM`` after the lease time only takes
entries of consumers that died or hung. See ``docs/redis_streams.md``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson

from xqueue_core.errors import BackendError
from xqueue_core.interfaces import Broker
from xqueue_core.logs import get_logger
from xqueue_core.models import Delivery, Message
from xqueue_core.settings import Settings

from .broker_streams import (
    BANDS,
    BLOCK_CAP,
    CONSUMER_IDLE_LIMIT,
    GROUP,
    MAINTAIN_EVERY,
    ORPHANS,
    SCRIPTS,
    StreamLayout,
    consumer_name,
    entry_fields,
    layout_from,
    message_from_fields,
)
from .codec import pairs
from .connection import Connection
from .keys import Keys
from .lane import ReplyError
from .url import parse_url

log = get_logger("xqueue.redis.broker")
CHUNK = 500  # ids per XCLAIM / XACK command
PUBLISH_CHUNK = 1000  # messages per publish script call (no single call holds Redis long)
LEAVE_IDLE_MS = 365 * 24 * 3600 * 1000  # "idle forever": reclaimed by the next XAUTOCLAIM


class RedisBroker(Broker):
    """The broker on Redis Streams; URL ``redis://[user:password@]host:port/db?prefix=app``.

    Priorities map to the bands ``high`` (>= 1), ``normal`` and ``low`` (<= -1);
    the thresholds can be changed in the ``[redis_broker]`` settings table.
    """

    def __init__(self, url: str, settings: Settings) -> None:
        self.redis_url = parse_url(url)
        self.url = self.redis_url.redacted
        self.settings = settings
        self.layout: StreamLayout = layout_from(settings, Keys(self.redis_url.prefix))
        self.conn = Connection(self.redis_url, self.layout.keys)
        self.consumer = consumer_name()
        self._fetches = 0
        self._cursors = dict.fromkeys(self.layout.streams, "0-0")
        self._next_reclaim = 0.0
        self._held: dict[str, dict[str, None]] = {key: {} for key in self.layout.streams}
        self._keeper: asyncio.Task[None] | None = None
        self._open = False

    # -- life -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, and create the group on the band streams if it is not there yet."""
        await self.conn.open()
        await self._ensure_groups()
        self._open = True

    async def close(self) -> None:
        """Stop touching, hand anything unacknowledged to the others, disconnect."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        if self._open and self._fetches:
            try:
                await self.leave()
            except Exception as exc:  # closing must not fail: XAUTOCLAIM covers it
                log.warning("leaving the consumer group failed", url=self.url, error=str(exc))
        self._open = False
        await self.conn.close()

    async def _script(self, doing: str, name: str, keys: list[str], args: list[Any]) -> Any:
        text, sha = SCRIPTS[name]
        return await self.conn.evalsha(doing, text, sha, keys, args)

    async def ping(self) -> None:
        await self.conn.command("ping", "PING")

    async def _ensure_groups(self) -> None:
        """Create the group on every band stream at id 0 (so no entry is skipped)."""
        doing = "create consumer groups"
        commands = [
            ["XGROUP", "CREATE", key, GROUP, "0", "MKSTREAM"] for key in self.layout.streams
        ]
        for reply in await self.conn.commands(doing, commands):
            if isinstance(reply, ReplyError) and "BUSYGROUP" not in str(reply):
                raise self.conn.error(reply, doing)

    # -- publish ----------------------------------------------------------------------

    async def publish(self, messages: Sequence[Message]) -> None:
        """XADD each message to its band's stream: one script call per chunk, its
        messages in one JSON argument (cheaper to encode than a command each)."""
        if not messages:
            return
        layout = self.layout
        keys = list(layout.streams)
        for start in range(0, len(messages), PUBLISH_CHUNK):
            rows = [
                [layout.stream_number(m.priority), m.task_id, m.type, str(int(m.priority))]
                for m in messages[start : start + PUBLISH_CHUNK]
            ]
            arg = orjson.dumps(rows)

            await self._script("publish", "broker_publish", keys, [arg])

    # -- fetch ------------------------------------------------------------------------

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        """Up to ``max_messages`` deliveries, higher bands first, waiting up to ``timeout``."""
        if max_messages < 1:
            return []
        self._start_keeper()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + max(timeout, 0.0)
        self._fetches += 1
        order = self.layout.order(self._fetches)
        while True:
            reclaim = loop.time() >= self._next_reclaim
            if reclaim:
                self._next_reclaim = loop.time() + self.layout.reclaim_every
            got = await self._take(order, max_messages, reclaim)
            if got:
                return got
            wait = min(
                give_up - loop.time(),
                self._next_reclaim - loop.time(),
                BLOCK_CAP,
                self.redis_url.socket_timeout / 2,
            )
            if loop.time() >= give_up:
                return []
            if wait >= 0.001:
                got = await self._block(max_messages, wait)
                if got:
                    # Return at once (no top-up round trip): this is the idle path,
                    # where latency matters; the next fetch takes whatever followed.
                    return got

    async def _take(self, order: Sequence[str], count: int, reclaim: bool) -> list[Delivery]:
        keys = [self.layout.stream(band) for band in order]
        args = [
            GROUP,
            self.consumer,
            count,
            self.layout.min_idle_ms if reclaim else 0,
            *(self._cursors[key] for key in keys),
        ]
        cursors, flat = await self._script("fetch", "broker_fetch", keys, args)
        for key, cursor in zip(keys, cursors, strict=True):
            self._cursors[key] = cursor
        out: list[Delivery] = []
        for i in range(0, len(flat), 5):
            key = keys[int(flat[i]) - 1]
            message = message_from_fields(
                {"id": flat[i + 2], "type": flat[i + 3], "priority": flat[i + 4]}
            ) or Message(flat[i + 2], flat[i + 3], 0)
            out.append(self._hold(key, flat[i + 1], message))
        return out

    async def _block(self, max_messages: int, wait: float) -> list[Delivery]:
        """Wait in XREADGROUP BLOCK on all bands for the first new entry."""
        streams = self.layout.streams
        block = max(1, int(wait * 1000))
        argv = ["XREADGROUP", "GROUP", GROUP, self.consumer, "COUNT", 1, "BLOCK", block]
        argv += ["STREAMS", *streams, *[">"] * len(streams)]
        try:
            reply = await self.conn.blocking_read("fetch", argv, block / 1000)
        except BackendError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self._ensure_groups()  # Redis lost the group (restart without AOF)
            return []
        got: list[Delivery] = []
        strays: list[tuple[str, str]] = []
        for key, entries in reply or []:
            for entry_id, fields in entries:
                message = message_from_fields(pairs(fields))
                if message is None:
                    strays.append((key, entry_id))
                else:
                    got.append(self._hold(key, entry_id, message))
        if strays:
            await self._drop(strays)
        if len(got) > max_messages:
            # Entries arrived on several bands at once; give back what was not asked for.
            got.sort(key=lambda d: self.layout.streams.index(d.handle[0]))
            extra = got[max_messages:]
            del got[max_messages:]
            await self._give_back(extra)
        return got

    def _hold(self, key: str, entry_id: str, message: Message) -> Delivery:
        self._held[key][entry_id] = None
        return Delivery(message, (key, entry_id))

    # -- ack --------------------------------------------------------------------------

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """XACK, then XTRIM MINID to the oldest entry still needed, in one script call:
        an entry leaves the stream once it and every entry before it are acknowledged."""
        if not deliveries:
            return
        await self._drop([d.handle for d in deliveries])

    async def _drop(self, handles: Sequence[tuple[str, str]]) -> None:
        by_key: dict[str, list[str]] = {}
        for key, entry_id in handles:
            by_key.setdefault(key, []).append(entry_id)
        keys = list(self.layout.streams)
        try:
            for start in range(0, max(len(ids) for ids in by_key.values()), CHUNK):
                args: list[Any] = [GROUP]
                for key in keys:
                    chunk = by_key.get(key, [])[start : start + CHUNK]
                    args += [len(chunk), *chunk]
                await self._script("ack", "broker_ack", keys, args)
        finally:
            # Acked, or the ack failed: either way stop touching them, so an entry
            # whose ack was lost is reclaimed after the lease and acked then (GONE).
            for key, ids in by_key.items():
                held = self._held.get(key)
                if held is not None:
                    for entry_id in ids:
                        held.pop(entry_id, None)

    async def _give_back(self, deliveries: Sequence[Delivery]) -> None:
        """Re-add messages at the tail of their band and acknowledge the originals."""

        commands: list[list[Any]] = []
        for d in deliveries:
            key, entry_id = d.handle
            fields = [x for item in entry_fields(d.message).items() for x in item]
            commands += [
                ["XADD", key, "*", *fields],
                ["XACK", key, GROUP, entry_id],
                ["XDEL", key, entry_id],
            ]
        await self.conn.transaction("give back", commands)
        for d in deliveries:
            self._held[d.handle[0]].pop(d.handle[1], None)

    # -- keeping held entries, leaving, upkeep -----------------------------------------

    def _start_keeper(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep(), name="xqueue-redis-broker")

    async def _keep(self) -> None:
        loop = asyncio.get_running_loop()
        next_maintain = loop.time() + MAINTAIN_EVERY
        while True:
            await asyncio.sleep(self.layout.touch_every)
            try:
                await self.touch()
                if loop.time() >= next_maintain:
                    next_maintain = loop.time() + MAINTAIN_EVERY
                    await self.maintain()
            except Exception as exc:
                log.warning("stream upkeep failed", url=self.url, error=str(exc))

    async def touch(self) -> int:
        """Reset the idle time of every entry this consumer holds (``XCLAIM … JUSTID``).

        Entries no longer pending (acknowledged elsewhere) are forgotten.
        Returns how many are still held.
        """
        snapshot = {key: list(ids) for key, ids in self._held.items() if ids}
        if not snapshot:
            return 0
        plan: list[tuple[str, list[str]]] = []

        commands: list[list[Any]] = []
        for key, ids in snapshot.items():
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                plan.append((key, chunk))
                commands.append(["XCLAIM", key, GROUP, self.consumer, 0, *chunk, "JUSTID"])
        replies = await self.conn.commands("touch", commands)
        for (key, chunk), kept in zip(plan, replies, strict=True):
            # An error here is NOGROUP: Redis lost the group, so nothing is pending.
            still = set(kept) if isinstance(kept, list) else set()
            for entry_id in set(chunk) - still:
                self._held[key].pop(entry_id, None)
        return sum(len(ids) for ids in self._held.values())

    async def leave(self) -> int:
        """Hand what this consumer still holds to the others at once and leave the group."""
        keys = list(self.layout.streams)
        args = [GROUP, self.consumer, ORPHANS, LEAVE_IDLE_MS]
        moved: int = await self._script("leave", "broker_leave", keys, args)
        for held in self._held.values():
            held.clear()
        return moved

    async def maintain(self) -> tuple[int, int]:
        """Trim what no group needs any more and remove long-idle empty consumers.

        Returns (entries trimmed, consumers removed). Never removes an entry that
        is pending or not yet delivered.
        """
        keys = list(self.layout.streams)
        args = [int(CONSUMER_IDLE_LIMIT * 1000), self.consumer]
        trimmed, removed = await self._script("trim", "broker_trim", keys, args)
        return int(trimmed), int(removed)

    # -- stats ------------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        """Per band: entries, pending (delivered, not acked), waiting, lag, consumers."""

        commands: list[list[Any]] = []
        for key in self.layout.streams:
            commands += [["XLEN", key], ["XINFO", "GROUPS", key]]
        replies = await self.conn.commands("stats", commands)
        bands: dict[str, dict[str, Any]] = {}
        for index, band in enumerate(BANDS):
            length, groups = replies[2 * index], replies[2 * index + 1]
            length = length if isinstance(length, int) else 0
            listed = [pairs(g) for g in groups] if isinstance(groups, list) else []
            group: dict[str, Any] = next((g for g in listed if g.get("name") == GROUP), {})
            pending = int(group.get("pending") or 0)
            lag = group.get("lag")
            bands[band] = {
                "stream": self.layout.stream(band),
                "length": length,
                "pending": pending,
                # acknowledged entries after the oldest pending one are still in the
                # stream: the group's lag counts only what is not delivered yet
                "waiting": lag if isinstance(lag, int) else max(length - pending, 0),
                "lag": lag,
                "consumers": int(group.get("consumers") or 0),
            }
        return {
            "messages_waiting": sum(b["waiting"] for b in bands.values()),
            "messages_in_flight": sum(b["pending"] for b in bands.values()),
            "bands": bands,
        }
