"""The bounded buffer: FIFO while there is room, latest state per task once it is full."""

from __future__ import annotations

from xqueue_mqtt import EventBuffer

from xqueue_core.models import TaskEvent, TaskStatus


def ev(task: str, status: str, kind: str = "status", progress: float | None = None) -> TaskEvent:
    return TaskEvent(task, "t", TaskStatus(status), 0, None, progress, None, 0.0, kind)


def drain(buffer: EventBuffer, batch: int = 2) -> list[tuple[str, str, str]]:
    out = []
    while events := buffer.take(batch):
        out += [(e.task_id, e.kind, str(e.status)) for e in events]
    return out


def test_fifo_keeps_every_event_in_order():
    buffer = EventBuffer(10)
    for status in ("pending", "processing", "success"):
        buffer.put(ev("a", status))
    assert drain(buffer) == [("a", "status", s) for s in ("pending", "processing", "success")]
    assert (buffer.dropped, buffer.lost, len(buffer)) == (0, 0, 0)


def test_overflow_keeps_latest_state_per_task_after_the_older_fifo_part():
    buffer = EventBuffer(3)
    buffer.put(ev("a", "pending"))
    buffer.put(ev("b", "pending"))
    buffer.put(ev("a", "processing"))
    assert not buffer.coalescing
    buffer.put(ev("b", "processing"))  # full: coalescing starts
    buffer.put(ev("a", "processing", "progress", 0.5))
    buffer.put(ev("b", "success"))
    buffer.put(ev("a", "success"))  # makes a's pending progress report pointless
    assert buffer.coalescing
    assert drain(buffer) == [
        ("a", "status", "pending"),
        ("b", "status", "pending"),
        ("a", "status", "processing"),
        ("b", "status", "success"),
        ("a", "status", "success"),
    ]
    assert (buffer.dropped, buffer.lost) == (2, 0)
    assert not buffer.coalescing


def test_purge_supersedes_everything_of_its_task():
    buffer = EventBuffer(1)
    buffer.put(ev("x", "pending"))
    buffer.put(ev("a", "processing", "progress", 0.1))
    buffer.put(ev("a", "success"))
    buffer.put(ev("a", "success", "purged"))
    assert drain(buffer) == [("x", "status", "pending"), ("a", "purged", "success")]
    assert buffer.dropped == 2


def test_when_even_the_coalesced_part_is_full_the_oldest_task_is_lost_and_counted():
    buffer = EventBuffer(2)
    for task in "abcde":
        buffer.put(ev(task, "success"))
    assert len(buffer) == 4 and buffer.lost == 1
    assert [t for t, _, _ in drain(buffer)] == ["a", "b", "d", "e"]


def test_unacknowledged_events_go_back_to_the_front():
    buffer = EventBuffer(2)
    for status in ("pending", "processing", "success"):
        buffer.put(ev("a", status))  # the third one is coalesced
    taken = buffer.take(2)
    assert [str(e.status) for e in taken] == ["pending", "processing"]
    buffer.put(ev("b", "pending"))  # arrives while those are in flight
    buffer.requeue(taken[1:])  # the connection died before "processing" was acknowledged
    assert drain(buffer, 10) == [
        ("a", "status", "processing"),
        ("a", "status", "success"),
        ("b", "status", "pending"),
    ]
