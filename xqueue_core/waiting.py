"""Waiting for a task's end: woken by the store where it can, else following its event log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import TaskNotFound
from .interfaces import Store, TerminalWaitingStore
from .models import Task

WAIT_PAUSE_MIN = 0.05  # the record is read again after this long without an event,
WAIT_PAUSE_MAX = 1.0  # the pause doubling up to this
WAIT_READ_BATCH = 500
WAIT_SLICE = 10.0  # on a store that wakes waiters: the record is read again this often


async def wait_for_task(
    store: Store,
    get: Callable[[str], Awaitable[Task]],
    task_id: str,
    timeout: float | None = None,
    on_change: Callable[[Task], None] | None = None,
) -> Task:
    """The task once it is terminal (``get`` reads the record and raises
    :class:`TaskNotFound`); TimeoutError after ``timeout``. ``on_change`` is called
    whenever its status or progress changes."""
    deadline = None if timeout is None else time.monotonic() + timeout
    if on_change is None and isinstance(store, TerminalWaitingStore):
        return await _wait_end(store, task_id, timeout, deadline)
    last: tuple[Any, ...] | None = None
    cursor = await store.event_cursor()  # taken first: no change can slip past
    pause = WAIT_PAUSE_MIN
    while True:
        task = await get(task_id)
        state = (task.status, task.progress, task.retry)
        if state != last:
            last = state
            if on_change is not None:
                on_change(task)
        if task.terminal:
            return task
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError(f"task {task_id} is still {task.status} after {timeout}s")
        # Without on_change only the end matters: a worker's "processing" event
        # does not cost a read of the record while the handler runs.
        ends_only = on_change is None
        cursor, changed = await _next_event_of(store, task_id, cursor, pause, left, ends_only)
        # reading the record again at growing intervals is the safety net behind the
        # event log (a capped log can drop events under load)
        pause = WAIT_PAUSE_MIN if changed else min(pause * 2, WAIT_PAUSE_MAX)


async def _wait_end(
    store: TerminalWaitingStore, task_id: str, timeout: float | None, deadline: float | None
) -> Task:
    """On a store that wakes the client when the task ends."""
    while True:
        left = WAIT_SLICE if deadline is None else deadline - time.monotonic()
        task = await store.wait_terminal(task_id, max(min(left, WAIT_SLICE), 0.0))
        if task is None:
            raise TaskNotFound(f"task {task_id!r} not found")
        if task.terminal:
            return task
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"task {task_id} is still {task.status} after {timeout}s")


async def _next_event_of(
    store: Store,
    task_id: str,
    cursor: str,
    pause: float,
    left: float | None,
    ends_only: bool = False,
) -> tuple[str, bool]:
    """Read the event log from ``cursor`` until an event of the task shows up or
    ``pause`` (at most ``left``) has passed; returns the new cursor and whether one did.

    With ``ends_only``, status and progress events of a task that is not
    terminal yet are passed over."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + (pause if left is None else min(pause, left))
    while True:
        remaining = give_up - loop.time()
        if remaining <= 0:
            return cursor, False
        for position, event in await store.read_events(cursor, WAIT_READ_BATCH, remaining):
            cursor = position
            if event.task_id == task_id and not (
                ends_only and event.kind in ("status", "progress") and not event.status.terminal
            ):
                return cursor, True
