"""Debounce on submit: submits of one flow key within a window collapse into one task.

``await app.submit("reindex", {"doc": 42}, key="doc-42", debounce=5)`` creates a
task that starts 5 s from now; another submit for the same type and key before
then does not make a second task: it replaces the waiting task's payload (the
last payload wins) and moves its start to 5 s after this submit. With
``debounce_max=30`` the start never moves past 30 s after the first submit, so
a steady stream of submits still runs the task at least every 30 s.

The store decides in one atomic step (:meth:`~xqueue_core.interfaces.Store.debounce`):
a waiting task is one of the key's that is pending, not yet due and never run;
once it is due (or started, or ended), the next submit starts a new window.
The other options of a merged submit (priority, retries, timeouts) are those of
the first submit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import ValidationError
from .models import Task, TaskEvent

if TYPE_CHECKING:
    from .events import EventBus
    from .interfaces import Store
    from .validation import SubmitRequest

MAX_WINDOW = 7 * 86_400.0  # a week: longer waits are schedules, not debounce


def check_window(window: float | None, max_wait: float | None) -> None:
    """Both in seconds, more than 0 and at most a week; ``debounce_max`` only with
    ``debounce`` (shorter than it, it is the wait: the first start comes then)."""
    if window is None:
        if max_wait is not None:
            raise ValidationError("debounce_max needs debounce (the window it caps)")
        return
    if not 0 < window <= MAX_WINDOW:
        raise ValidationError(f"debounce must be more than 0 and at most 604800 s, got {window}")
    if max_wait is not None and not 0 < max_wait <= MAX_WINDOW:
        raise ValidationError(
            f"debounce_max must be more than 0 and at most 604800 s, got {max_wait:g}"
        )


def first_start(now: float, window: float, max_wait: float | None) -> float:
    """When a new debounced task starts: ``window`` from now."""
    return now + window if max_wait is None else now + min(window, max_wait)


def moved_start(now: float, first: float, window: float, max_wait: float | None) -> float:
    """When a waiting task starts after one more submit: ``window`` from now, but no
    later than ``debounce_max`` after the first submit."""
    return now + window if max_wait is None else min(now + window, first + max_wait)


def check_debounced(requests: Sequence[SubmitRequest], tasks: Sequence[Task]) -> None:
    """Every debounced entry of a submit has a flow key (checked before anything is
    stored)."""
    for index, (req, task) in enumerate(zip(requests, tasks, strict=True)):
        if req.debounce is not None and not task.key:
            where = f"task {index}: " if len(tasks) > 1 else ""
            raise ValidationError(
                f"{where}debounce needs a flow key: give key, or name a payload field as "
                f"the key of {task.type!r} (@app.task(..., key=FIELD))"
            )


async def submit_debounced(
    events: EventBus, store: Store, requests: Sequence[SubmitRequest], tasks: Sequence[Task]
) -> list[Task]:
    """The debounced entries of a submit (validated, built), each in its own store step,
    in order (a later entry of a key merges into an earlier one). A new task's pending
    event is emitted; a merged submit changes no status."""
    out: list[Task] = []
    for req, task in zip(requests, tasks, strict=True):
        if req.debounce is None:
            continue
        stored, new = await store.debounce(task, req.debounce, req.debounce_max)
        if new and events.wanted:
            await events.emit([TaskEvent.of(stored)])
        out.append(stored)
    return out
