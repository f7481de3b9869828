"""OffsetTracker: which offsets of each partition may be committed, with acks out of order.

A worker runs many tasks of one partition at once and they finish in any
order. Kafka keeps one committed offset per partition: everything before it
counts as done. So a partition's commit point is its lowest delivered offset
that is not acknowledged yet (or, when all are acknowledged, one past the
highest delivered). A crash then re-delivers exactly the unfinished records
(and maybe some finished ones after them, which the store's compare-and-set
turns into no-ops).

Each assignment of a partition gets a new epoch; handles carry it, so an ack
for a delivery made before a partition was revoked (and perhaps assigned back)
is ignored instead of moving the new assignment's offsets.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

TopicPartition = Any  # aiokafka.TopicPartition: a (topic, partition) named tuple


class Handle(NamedTuple):
    """What a :class:`~xqueue_core.models.Delivery` carries for the Kafka broker."""

    tp: TopicPartition
    offset: int
    epoch: int


@dataclass(slots=True)
class _Partition:
    epoch: int
    window: deque[int] = field(default_factory=deque)  # delivered offsets, ascending
    acked: set[int] = field(default_factory=set)  # acknowledged offsets still in the window
    next: int | None = None  # one past the highest delivered offset
    committed: int | None = None  # the last offset we committed (or learned was committed)

    def point(self) -> int | None:
        if self.window:
            return self.window[0]
        return self.next


class OffsetTracker:
    """Per-partition delivered/acknowledged offsets and the commit point they allow."""

    def __init__(self) -> None:
        self._parts: dict[TopicPartition, _Partition] = {}
        self._epoch = 0
        self._changed = asyncio.Event()

    # -- assignment ---------------------------------------------------------

    def assign(self, tps: Iterable[TopicPartition]) -> None:
        """Start tracking newly assigned partitions (a fresh epoch each time)."""
        self._epoch += 1
        for tp in tps:
            self._parts[tp] = _Partition(self._epoch)

    def revoke(self, tps: Iterable[TopicPartition]) -> None:
        """Forget partitions; late acks for them are ignored."""
        for tp in tps:
            self._parts.pop(tp, None)
        self._notify()

    def active(self) -> list[TopicPartition]:
        """The partitions currently tracked (assigned)."""
        return list(self._parts)

    def is_active(self, tp: TopicPartition) -> bool:
        return tp in self._parts

    # -- deliveries and acks ----------------------------------------------------

    def delivered(self, tp: TopicPartition, offset: int) -> Handle | None:
        """Record a delivery; None when the partition is not (any more) assigned."""
        part = self._parts.get(tp)
        if part is None:
            return None
        if part.window and offset <= part.window[-1]:
            # A re-fetch after a seek: forget what is at or after this offset.
            while part.window and part.window[-1] >= offset:
                part.acked.discard(part.window.pop())
        part.window.append(offset)
        part.next = offset + 1
        return Handle(tp, offset, part.epoch)

    def ack(self, handle: Handle) -> bool:
        """Mark a delivery done; False if it belongs to an earlier assignment."""
        part = self._parts.get(handle.tp)
        if part is None or part.epoch != handle.epoch:
            return False
        if handle.offset not in part.window or handle.offset in part.acked:
            return False
        part.acked.add(handle.offset)
        while part.window and part.window[0] in part.acked:
            part.acked.remove(part.window.popleft())
        self._notify()
        return True

    # -- commits ------------------------------------------------------------------

    def to_commit(self, tps: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Partitions whose commit point moved past what was last committed."""
        out: dict[TopicPartition, int] = {}
        for tp in self._parts if tps is None else tps:
            part = self._parts.get(tp)
            if part is None:
                continue
            point = part.point()
            if point is not None and (part.committed is None or point > part.committed):
                out[tp] = point
        return out

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        """Record a successful commit."""
        for tp, offset in offsets.items():
            part = self._parts.get(tp)
            if part is not None and (part.committed is None or offset > part.committed):
                part.committed = offset

    # -- waiting ---------------------------------------------------------------------

    def in_flight(self, tps: Iterable[TopicPartition] | None = None) -> int:
        """Delivered and not yet acknowledged, over ``tps`` (default: all)."""
        total = 0
        for tp in self._parts if tps is None else tps:
            part = self._parts.get(tp)
            if part is not None:
                total += len(part.window) - len(part.acked)
        return total

    def pending(self) -> dict[TopicPartition, int]:
        """Per partition: delivered but not acknowledged (for stats)."""
        return {tp: len(p.window) - len(p.acked) for tp, p in self._parts.items()}

    async def wait_acked(self, tps: Iterable[TopicPartition], timeout: float) -> bool:
        """Wait up to ``timeout`` until nothing is in flight on ``tps``; True if so."""
        wanted = list(tps)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout
        while self.in_flight(wanted):
            left = give_up - loop.time()
            if left <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return not self.in_flight(wanted)
        return True

    def _notify(self) -> None:
        self._changed.set()
