"""Delivers task events to the ``xqueue_task_event`` hook and to every notifier, in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .interfaces import Notifier
from .logs import get_logger
from .models import LazyEvents, TaskEvent

if TYPE_CHECKING:
    from .hooks import Hooks

log = get_logger("xqueue.events")

__all__ = ["EventBus", "LazyEvents"]  # LazyEvents lived here before models


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
