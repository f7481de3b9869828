"""Delivers task events to the ``xqueue_task_event`` hook and to every notifier, in order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

from .interfaces import Notifier
from .logs import get_logger
from .models import TaskEvent

if TYPE_CHECKING:
    from .hooks import Hooks

log = get_logger("xqueue.events")


class EventBus:
    """In-process fan-out of events. Hook and notifier failures are logged, never raised."""

    def __init__(self, hooks: Hooks | None, notifiers: Sequence[Notifier]) -> None:
        self._hooks = hooks
        self._notifiers = list(notifiers)

    def _hooked(self) -> bool:
        return self._hooks is not None and self._hooks.implemented("xqueue_task_event")

    @property
    def wanted(self) -> bool:
        """Whether anyone listens (so the hot path can skip building events)."""
        return bool(self._notifiers) or self._hooked()

    async def emit(self, events: Sequence[TaskEvent]) -> None:
        """Each event to the ``xqueue_task_event`` hook, then all to every notifier."""
        if not events:
            return
        if self._hooks is not None and self._hooked():
            for event in events:
                if event.kind == "purged":
                    continue
                try:
                    self._hooks.task_event(event)
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
