"""Delivers task events to the ``xqueue_task_event`` hook and to every notifier, in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
