"""OffsetTracker: commit points with out-of-order acks, epochs across reassignment."""

from __future__ import annotations

import asyncio

from xqueue_kafka.offsets import OffsetTracker

TP = ("jobs.normal", 0)
TP2 = ("jobs.normal", 1)


def test_commit_point_is_lowest_unacked() -> None:
    t = OffsetTracker()
    t.assign([TP])
    handles = [t.delivered(TP, offset) for offset in range(10, 15)]
    assert all(h is not None for h in handles)
    assert t.to_commit() == {TP: 10}
    for h in handles[1:]:
        assert h is not None and t.ack(h)
    assert t.to_commit() == {TP: 10}  # offset 10 still running
    assert t.in_flight() == 1
    assert handles[0] is not None and t.ack(handles[0])
    assert t.to_commit() == {TP: 15}
    t.committed({TP: 15})
    assert t.to_commit() == {}
    assert t.in_flight() == 0


def test_duplicate_and_stale_acks_are_ignored() -> None:
    t = OffsetTracker()
    t.assign([TP, TP2])
    old = t.delivered(TP, 0)
    assert old is not None
    t.revoke([TP])
    assert t.delivered(TP, 1) is None  # revoked: nothing delivered, nothing tracked
    assert not t.ack(old)
    t.assign([TP])  # assigned back: a new epoch, starting over from the committed offset
    new = t.delivered(TP, 0)
    assert new is not None and new.epoch != old.epoch
    assert not t.ack(old)
    assert t.to_commit() == {TP: 0}
    assert t.ack(new)
    assert not t.ack(new)
    assert t.to_commit() == {TP: 1}


def test_partitions_are_independent() -> None:
    t = OffsetTracker()
    t.assign([TP, TP2])
    a = t.delivered(TP, 5)
    b = t.delivered(TP2, 7)
    assert a is not None and b is not None
    t.ack(b)
    assert t.to_commit() == {TP: 5, TP2: 8}
    assert t.to_commit([TP2]) == {TP2: 8}
    assert t.pending() == {TP: 1, TP2: 0}


def test_refetch_after_seek_replaces_the_window() -> None:
    t = OffsetTracker()
    t.assign([TP])
    for offset in range(5):
        t.delivered(TP, offset)
    again = t.delivered(TP, 2)
    assert again is not None
    assert t.in_flight() == 3  # offsets 0, 1 and the new 2


async def test_wait_acked_returns_when_done_or_timed_out() -> None:
    t = OffsetTracker()
    t.assign([TP])
    h = t.delivered(TP, 0)
    assert h is not None
    assert not await t.wait_acked([TP], 0.05)
    asyncio.get_running_loop().call_later(0.05, t.ack, h)
    assert await t.wait_acked([TP], 5)
    assert await t.wait_acked([TP2], 0)
