"""One reader of the store's event log per API process, fanned out to every stream.

The hub follows :meth:`Store.read_events` and keeps the most recent events in a
ring, so any number of SSE clients cost one store read, and a client that
reconnects with ``Last-Event-ID`` resumes from the ring (or, when it is further
behind, straight from the store). It also keeps each recent task's history and
per-second counts of finished tasks for the dashboard's throughput chart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator
from typing import Any

from xqueue_core import XQueue
from xqueue_core.logs import get_logger
from xqueue_core.models import TaskEvent

log = get_logger("xqueue.http")
Batches = AsyncGenerator[list[tuple[str, TaskEvent]], None]

READ_BATCH = 500
READ_WAIT = 1.0
HISTORY_PER_TASK = 256
THROUGHPUT_SECONDS = 900


class EventHub:
    """Follows the event log; see the module docstring.

    :param app: an open :class:`XQueue`.
    :param buffer: events kept for resuming streams.
    :param history_tasks: tasks whose events are kept for :meth:`history`.
    """

    def __init__(self, app: XQueue, buffer: int = 4096, history_tasks: int = 5000) -> None:
        self.app = app
        # The ring is a list from sequence number ``_base`` on, trimmed to
        # ``_buffer`` entries once it holds twice that (slicing stays O(new)).
        self._ring: list[tuple[str, TaskEvent]] = []
        self._base = 0
        self._buffer = buffer
        self._index: dict[str, int] = {}
        self._tick = asyncio.Event()
        self._cursor: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._history: OrderedDict[str, list[TaskEvent]] = OrderedDict()
        self._history_tasks = history_tasks
        self._finished: dict[int, dict[str, int]] = {}
        self.since: float | None = None  # timestamp of the first event this hub read
        self.stopping = asyncio.Event()

    # -- life -------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name="xqueue-http-events")

    def close_streams(self) -> None:
        """End every stream now (the server is shutting down)."""
        self.stopping.set()
        self._wake()

    async def stop(self) -> None:
        """End every stream and stop reading."""
        self.close_streams()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _wake(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def _follow(self) -> None:
        delay = 0.1
        while not self.stopping.is_set():
            store = self.app.store
            if store is None:
                return
            try:
                batch = await store.read_events(self._cursor, READ_BATCH, READ_WAIT)
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reading task events failed; retrying", error=str(exc), delay=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if batch:
                self._add(batch)

    @property
    def _next_seq(self) -> int:
        return self._base + len(self._ring)

    def _add(self, batch: list[tuple[str, TaskEvent]]) -> None:
        ring = self._ring
        if self.since is None:
            self.since = batch[0][1].timestamp
        for cursor, event in batch:
            self._index[cursor] = self._next_seq
            ring.append((cursor, event))
            self._remember(event)
        if len(ring) > 2 * self._buffer:
            drop = len(ring) - self._buffer
            for cursor, _ in ring[:drop]:
                self._index.pop(cursor, None)
            del ring[:drop]
            self._base += drop
        self._cursor = batch[-1][0]
        self._wake()

    def _remember(self, event: TaskEvent) -> None:
        if event.kind == "purged":
            self._history.pop(event.task_id, None)
            return
        events = self._history.get(event.task_id)
        if events is None:
            events = self._history[event.task_id] = []
            if len(self._history) > self._history_tasks:
                self._history.popitem(last=False)
        # Status changes are kept; of the progress reports, the latest in a row.
        if event.kind == "progress" and events and events[-1].kind == "progress":
            events[-1] = event
        elif len(events) < HISTORY_PER_TASK:
            events.append(event)
        else:
            events[-1] = event
        if event.kind == "status" and event.status.terminal:
            second = int(event.timestamp)
            counts = self._finished.setdefault(second, {})
            counts[event.status.value] = counts.get(event.status.value, 0) + 1
            if len(self._finished) > THROUGHPUT_SECONDS * 2:
                horizon = int(time.time()) - THROUGHPUT_SECONDS
                for old in [s for s in self._finished if s < horizon]:
                    del self._finished[old]

    # -- queries -----------------------------------------------------------------

    def history(self, task_id: str) -> list[TaskEvent]:
        """Status changes of a task this process saw (recent tasks), with the latest
        progress report between them."""
        return list(self._history.get(task_id, ()))

    async def caught_up(self, task_id: str, updated_at: float, timeout: float) -> None:
        """Wait (at most ``timeout``) until this hub has seen the task's change at
        ``updated_at`` — when it could have: the change is newer than the hub."""
        # Event times went through ISO 8601 with milliseconds: compare at that precision.
        updated_at -= 0.001
        if self.since is None or updated_at < self.since:
            return
        give_up = asyncio.get_running_loop().time() + timeout
        while not self.stopping.is_set():
            seen = self._history.get(task_id)
            if seen and seen[-1].timestamp >= updated_at:
                return
            left = give_up - asyncio.get_running_loop().time()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tick.wait(), left)

    def throughput(self, seconds: int) -> list[dict[str, Any]]:
        """Finished tasks per second over the last ``seconds``, oldest first."""
        now = int(time.time())
        out = []
        for second in range(now - seconds + 1, now + 1):
            counts = self._finished.get(second, {})
            out.append({"t": second, **counts})
        return out

    # -- streams -------------------------------------------------------------------

    def _since(self, seq: int) -> list[tuple[str, TaskEvent]] | None:
        """Ring entries from ``seq`` on; None when some of them were already dropped."""
        if seq < self._base:
            return None
        return self._ring[seq - self._base :]

    def subscribe(self, after: str | None, keepalive: float) -> Batches:
        """Batches of ``(cursor, event)`` after ``after`` (None: from this call on).

        The position is taken now, not when iteration starts. Yields an empty
        batch every ``keepalive`` seconds without events, and ends when the hub
        stops. Raises ``ValueError`` for a cursor the store does not understand.
        """
        seq: int | None = None if after is not None else self._next_seq
        cursor = after if after is not None else self._cursor
        return self._stream(seq, cursor, keepalive)

    async def _stream(self, seq: int | None, cursor: str | None, keepalive: float) -> Batches:
        while not self.stopping.is_set():
            if seq is None:
                assert cursor is not None
                if cursor in self._index:
                    seq = self._index[cursor] + 1
                    continue
                store = self.app.store
                if store is None:
                    return
                mark = self._next_seq
                batch = await store.read_events(cursor, READ_BATCH, 0)
                if not batch:
                    seq = mark
                    continue
                cursor = batch[-1][0]
                yield batch
                continue
            tick = self._tick
            entries = self._since(seq)
            if entries is None:  # fell behind the ring: catch up from the store
                seq = None
                if cursor is None:
                    cursor = self._ring[0][0]
                continue
            if entries:
                seq += len(entries)
                cursor = entries[-1][0]
                yield entries
                continue
            try:
                await asyncio.wait_for(tick.wait(), keepalive)
            except TimeoutError:
                yield []
