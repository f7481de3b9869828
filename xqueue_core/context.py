"""What a handler gets besides its payload: progress reporting, cancel checks, attempt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import TaskCancelled


class TaskContext:
    """Per-run context passed to a handler as its second argument.

    Safe to use from the event loop, from a worker thread (sync handlers) and,
    through a proxy, from a child process (``executor="process"``).
    """

    __slots__ = (
        "_cancelled",
        "_report",
        "_reported",
        "attempt",
        "parents",
        "payload",
        "task_id",
        "type",
        "worker_id",
    )

    def __init__(
        self,
        task_id: str,
        type: str,
        attempt: int,
        worker_id: str,
        payload: dict[str, Any],
        report: Callable[[float], None] | None = None,
        parents: dict[str, Any] | None = None,
    ) -> None:
        self.task_id = task_id
        self.type = type
        self.attempt = attempt  # 1 for the first run, 2 for the first retry, ...
        self.worker_id = worker_id
        self.payload = payload
        # the results of the tasks it depended on (depends_on): id -> result
        self.parents: dict[str, Any] = parents or {}
        self._report = report
        self._reported = False
        # A plain flag: set by the worker, read by the handler's thread (atomic under the GIL).
        self._cancelled = False

    def progress(self, value: float) -> None:
        """Report progress between 0 and 1; it is stored and sent as an event."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"progress must be between 0 and 1, got {value!r}")
        if self._report is not None:
            self._reported = True
            self._report(float(value))

    @property
    def cancelled(self) -> bool:
        """True once the task was cancelled or ran past its process timeout."""
        return self._cancelled

    def check_cancelled(self) -> None:
        """Raise :class:`TaskCancelled` if the run should stop (for long sync loops)."""
        if self._cancelled:
            raise TaskCancelled(self.task_id)


# For the worker and the executors, not for handlers: the run's side of the context.


def mark_cancelled(ctx: TaskContext) -> None:
    """Tell the handler to stop: ``ctx.cancelled`` is true from now on."""
    ctx._cancelled = True


def progress_reported(ctx: TaskContext) -> bool:
    """Whether the handler reported progress (its last report must be stored first)."""
    return ctx._reported
