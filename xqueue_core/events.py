"""Delivers task events to the ``xqueue_task_event`` hook and to every notifier, in order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, overload

import structlog

from .interfaces import Notifier
from .models import TaskEvent

log = structlog.get_logger("xqueue.events")


class EventBus:
    """In-process fan-out of events. Hook and notifier failures are logged, never raised."""

    def __init__(self, hook: Any, notifiers: Sequence[Notifier]) -> None:
        self._hook = hook
        self._notifiers = list(notifiers)

    @property
    def wanted(self) -> bool:
        """Whether anyone listens (so the hot path can skip building events)."""
        return bool(self._notifiers) or bool(self._hook.xqueue_task_event.get_hookimpls())

    async def emit(self, events: Sequence[TaskEvent]) -> None:
        if not events:
            return
        if self._hook.xqueue_task_event.get_hookimpls():
            for event in events:
                if event.kind == "purged":
                    continue
                try:
                    self._hook.xqueue_task_event(event=event)
                except Exception:
                    log.exception("xqueue_task_event hook failed", task_id=event.task_id)
        for notifier in self._notifiers:
            try:
                await notifier.notify(events)
            except Exception:
                log.exception("notifier failed", notifier=notifier.url)


class LazyEvents(Sequence[TaskEvent]):
    """Events kept as a backend returned them, decoded on first use.

    Store calls on the worker's hot path return the events they caused; when no
    hook or notifier listens, nobody reads them, and decoding them would be waste.
    """

    __slots__ = ("_decode", "_decoded", "_raw")

    def __init__(self, decode: Callable[[Any], TaskEvent], raw: Iterable[Any] = ()) -> None:
        self._raw: list[Any] = list(raw)
        self._decode = decode
        self._decoded: list[TaskEvent] | None = None

    def add(self, raw: Iterable[Any]) -> None:
        """Append more events in their raw form."""
        self._raw.extend(raw)
        self._decoded = None

    def _events(self) -> list[TaskEvent]:
        if self._decoded is None:
            self._decoded = [self._decode(item) for item in self._raw]
        return self._decoded

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, index: int) -> TaskEvent: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[TaskEvent]: ...

    def __getitem__(self, index: int | slice) -> TaskEvent | Sequence[TaskEvent]:
        return self._events()[index]

    def __iter__(self) -> Iterator[TaskEvent]:
        return iter(self._events())

    def __repr__(self) -> str:
        return f"LazyEvents({len(self._raw)} events)"
