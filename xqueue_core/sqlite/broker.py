"""SqliteBroker: the embedded broker, a message table in the shared SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from ..interfaces import Broker
from ..models import Delivery, Message
from ..settings import Settings
from .database import OnDatabase, placeholders

POLL_INTERVAL = 0.005  # checking PRAGMA data_version is a few microseconds
POLL_FAST = 0.001  # right after the file changed


class SqliteBroker(OnDatabase, Broker):
    """Messages ordered by priority, then age; every ``priority_fairness``-th fetch
    takes the oldest messages whatever their priority, so low priority never starves.

    A fetched message stays invisible for ``2 × lease_ttl``; if it is not
    acknowledged by then (its worker died) it is delivered again.
    """

    def __init__(self, url: str, settings: Settings) -> None:
        self._attach(url)
        self.settings = settings
        self.visibility = 2 * settings.lease_ttl
        self._fetches = 0

    async def publish(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        now = time.time()
        rows = [(m.task_id, m.type, m.priority, now) for m in messages]

        def tx(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO messages (task_id, type, priority, visible_at) VALUES (?, ?, ?, ?)",
                rows,
            )

        await self.db.write(tx)

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout
        seen = None
        pause = POLL_INTERVAL
        while True:
            version = await self.db.version()
            if version != seen:
                seen = version
                got = await self._take(max_messages)
                if got:
                    return got
                # the file changed without a message for us: a submit commits its task
                # before its message, so look again soon
                pause = POLL_FAST
            else:
                pause = min(pause * 2, POLL_INTERVAL)
            if loop.time() >= give_up:
                return []
            await asyncio.sleep(pause)

    async def _take(self, limit: int) -> list[Delivery]:
        self._fetches += 1
        oldest_first = self._fetches % self.settings.priority_fairness == 0
        order = "seq" if oldest_first else "priority DESC, seq"
        visibility = self.visibility

        def tx(conn: sqlite3.Connection) -> list[Delivery]:
            now = time.time()
            rows = conn.execute(
                f"SELECT seq, task_id, type, priority FROM messages WHERE visible_at <= ? "
                f"ORDER BY {order} LIMIT ?",
                (now, limit),
            ).fetchall()
            if rows:
                conn.execute(
                    f"UPDATE messages SET visible_at=? WHERE seq IN ({placeholders(len(rows))})",
                    (now + visibility, *(r[0] for r in rows)),
                )
            return [Delivery(Message(r[1], r[2], r[3]), r[0]) for r in rows]

        result: list[Delivery] = await self.db.write(tx)
        return result

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        seqs = [(d.handle,) for d in deliveries]
        await self.db.write(lambda c: c.executemany("DELETE FROM messages WHERE seq=?", seqs))

    async def stats(self) -> dict[str, Any]:
        now = time.time()

        def read(c: sqlite3.Connection) -> dict[str, Any]:
            waiting, in_flight = c.execute(
                "SELECT COALESCE(SUM(visible_at <= ?), 0), COALESCE(SUM(visible_at > ?), 0) "
                "FROM messages",
                (now, now),
            ).fetchone()
            return {"messages_waiting": waiting, "messages_in_flight": in_flight}

        result: dict[str, Any] = await self.db.run(read)
        return result
