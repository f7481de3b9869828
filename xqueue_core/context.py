"""What a handler gets besides its payload: progress reporting, cancel checks, attempt."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .errors import TaskCancelled


class TaskContext:
    """Per-run context passed to a handler as its second argument.

    Safe to use from the event loop, from a worker thread (sync handlers) and,
    through a proxy, from a child process (``executor="process"``).
    """

    __slots__ = ("_cancel", "_report", "attempt", "payload", "task_id", "type", "worker_id")

    def __init__(
        self,
        task_id: str,
        type: str,
        attempt: int,
        worker_id: str,
        payload: dict[str, Any],
        report: Callable[[float], None] | None = None,
    ) -> None:
        self.task_id = task_id
        self.type = type
        self.attempt = attempt  # 1 for the first run, 2 for the first retry, ...
        self.worker_id = worker_id
        self.payload = payload
        self._report = report
        self._cancel = threading.Event()

    def progress(self, value: float) -> None:
        """Report progress between 0 and 1; it is stored and sent as an event."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"progress must be between 0 and 1, got {value!r}")
        if self._report is not None:
            self._report(float(value))

    @property
    def cancelled(self) -> bool:
        """True once the task was cancelled or ran past its process timeout."""
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        """Raise :class:`TaskCancelled` if the run should stop (for long sync loops)."""
        if self._cancel.is_set():
            raise TaskCancelled(self.task_id)

    def _set_cancelled(self) -> None:
        self._cancel.set()
