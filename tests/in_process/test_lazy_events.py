"""LazyEvents decodes a backend's raw events only when someone reads them."""

from __future__ import annotations

from xqueue_core.events import LazyEvents
from xqueue_core.models import TaskEvent, TaskStatus


def test_events_are_decoded_on_first_read_only() -> None:
    decoded: list[str] = []

    def decode(raw: str) -> TaskEvent:
        decoded.append(raw)
        return TaskEvent(raw, "t", TaskStatus.PENDING, 0, None, None, None, 1.0)

    events = LazyEvents(decode, ["a"])
    events.add(["b", "c"])
    assert len(events) == 3 and bool(events)
    assert decoded == []  # counting them decodes nothing
    assert [e.task_id for e in events] == ["a", "b", "c"]
    assert events[-1].task_id == "c" and [e.task_id for e in events[:2]] == ["a", "b"]
    assert decoded == ["a", "b", "c"]  # once, however often they are read
    events.add(["d"])
    assert [e.task_id for e in events] == ["a", "b", "c", "d"]
    assert not LazyEvents(decode)
