"""The bounded event buffer between ``notify()`` and the publisher.

Events queue in order (FIFO) up to ``capacity``. When that is full — the broker
is down or slower than the workers — new events are coalesced instead: only the
latest event per task and topic is kept, so after a reconnect every task that
changed still gets its latest state published, while older intermediate states
are dropped (and counted). Only when even the coalesced part holds ``capacity``
tasks is the oldest task's latest state given up (counted as ``lost``).

Per-task order holds throughout: the FIFO part is always older than the
coalesced part, and the publisher takes from the FIFO part first; events it
took but could not get acknowledged go back to the front.
"""

from __future__ import annotations

from collections import deque

from xqueue_core.models import TaskEvent

Key = tuple[str, str]  # (task_id, "status" | "progress")


def _key(event: TaskEvent) -> Key:
    return (event.task_id, "progress" if event.kind == "progress" else "status")


class EventBuffer:
    """FIFO up to ``capacity`` events, then the latest event per task and topic."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._fifo: deque[TaskEvent] = deque()
        self._latest: dict[Key, TaskEvent] = {}
        self.dropped = 0  # intermediate events replaced by a newer one, never published
        self.lost = 0  # latest states given up because the coalesced part was full too

    def __len__(self) -> int:
        return len(self._fifo) + len(self._latest)

    @property
    def coalescing(self) -> bool:
        """True while new events are being coalesced (the FIFO part overflowed)."""
        return bool(self._latest)

    def put(self, event: TaskEvent) -> None:
        """Add one event; never blocks, never grows past ``2 * capacity`` events."""
        if not self._latest and len(self._fifo) < self.capacity:
            self._fifo.append(event)
            return
        task_id = event.task_id
        final = event.kind == "purged" or (event.kind == "status" and event.status.terminal)
        # Nothing after a final event makes a pending progress report worth sending.
        if final and self._latest.pop((task_id, "progress"), None) is not None:
            self.dropped += 1
        key = _key(event)
        if self._latest.pop(key, None) is not None:
            self.dropped += 1
        self._latest[key] = event
        while len(self._latest) > self.capacity:
            del self._latest[next(iter(self._latest))]
            self.lost += 1

    def take(self, limit: int) -> list[TaskEvent]:
        """Remove and return up to ``limit`` of the oldest events (for publishing)."""
        out: list[TaskEvent] = []
        fifo, latest = self._fifo, self._latest
        while fifo and len(out) < limit:
            out.append(fifo.popleft())
        while latest and len(out) < limit:
            out.append(latest.pop(next(iter(latest))))
        return out

    def requeue(self, events: list[TaskEvent]) -> None:
        """Put back taken events that were not acknowledged, ahead of everything else.

        They are older than anything still buffered, so per-task order holds.
        """
        self._fifo.extendleft(reversed(events))

    def clear(self) -> int:
        """Forget everything still buffered; returns how many events that was."""
        count = len(self)
        self._fifo.clear()
        self._latest.clear()
        return count
