"""The ticker: what every worker runs to fire periodic schedules (DESIGN §7.1).

Twice a second it asks the store for the schedules whose next tick has come (on
the store's clock), plans each one's ticks (:func:`xqueue_core.schedules.plan`)
and fires them in one round trip, a compare-and-set per schedule
(:meth:`~xqueue_core.interfaces.ScheduleStore.fire_schedules`): when several
processes look at once, one fires and the others find the tick gone. A look that
found a full batch due looks again at once, so 1,000 schedules on one second are
fired within a fraction of it (``bench/schedules.py``). A fired task is an
ordinary task (limits, retries, events); the store makes it due at once, and
every worker's scheduler publishes it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .interfaces import ScheduleStore
from .logs import get_logger
from .models import Task, TaskEvent
from .schedules import Schedule, TickFire, code_hash, next_tick, plan
from .validation import check_submit

if TYPE_CHECKING:
    from .app import XQueue

log = get_logger("xqueue.ticker")

TICK_INTERVAL = 0.5  # seconds between looks: a tick is at most about this late
DUE_BATCH = 200  # schedules fired per look at most (a full look is followed by another)


def schedule_store(app: XQueue) -> ScheduleStore | None:
    store = app.backends().store
    return store if isinstance(store, ScheduleStore) else None


def tick_tasks(app: XQueue, schedule: Schedule, ticks: Iterable[float]) -> list[Task]:
    """The tasks of some ticks: the schedule's type, payload and options, the handler's
    defaults for the rest, ``schedule`` and ``scheduled_for`` set, and an eta within
    ``jitter`` seconds after the tick."""
    request = check_submit(
        {"type": schedule.type, "payload": schedule.payload, **schedule.options},
        app.settings.max_payload_bytes,
    )
    out = []
    for tick in ticks:
        task = app.build_task(request, 0.0)
        task.schedule, task.scheduled_for = schedule.name, tick
        if schedule.jitter:
            task.eta = tick + random.uniform(0.0, schedule.jitter)
        out.append(task)
    return out


async def fire_due(app: XQueue) -> tuple[int, bool]:
    """Fire the schedules due now (one look): the number of tasks fired, and whether
    the look found a full batch and fired some of it (more may be due)."""
    store = schedule_store(app)
    if store is None:
        return 0, False
    now, due = await store.due_schedules(DUE_BATCH)
    if not due:
        return 0, False
    plans = [plan(state.schedule, state.next_at, now) for state in due]
    fires = [
        TickFire(
            state.schedule.name, state.next_at, p.next, tick_tasks(app, state.schedule, p.fire)
        )
        for state, p in zip(due, plans, strict=True)
    ]
    created: list[Task] = []
    results = await store.fire_schedules(fires)
    for state, p, fired in zip(due, plans, results, strict=True):
        if fired is None:
            continue  # another process fired these ticks
        created += fired
        if p.missed:
            log.info(
                "schedule ticks missed", schedule=state.schedule.name, missed=p.missed,
                catch_up=state.schedule.catch_up,
            )  # fmt: skip
    if created:
        await app.events.emit([TaskEvent.of(t) for t in created])
    # look again at once only after moving some on (never spin on ticks that fail)
    return len(created), len(due) >= DUE_BATCH and any(r is not None for r in results)


async def declare(app: XQueue, schedules: Iterable[Schedule]) -> None:
    """Upsert the app's code-declared schedules (a worker does this when it starts).

    A declaration replaces the stored copy only when the code changed (its
    :func:`~xqueue_core.schedules.code_hash` differs): edits made at runtime to a
    code-declared schedule (pause, a new payload) stay until its code changes.
    """
    store = schedule_store(app)
    schedules = list(schedules)
    if store is None:
        if schedules:
            log.warning(
                "the store keeps no periodic schedules: the app's schedules do not tick",
                store=app.backends().store.url,
                schedules=[s.name for s in schedules],
            )
        return
    now = await app.backends().store.now()
    for schedule in schedules:
        digest = code_hash(schedule)
        stored = await store.get_schedule(schedule.name)
        if stored is not None and stored.code_hash == digest:
            continue
        await store.put_schedule(schedule, next_tick(schedule, now), code_hash=digest)
        log.info("schedule declared", schedule=schedule.name, replaced=stored is not None)


async def run(app: XQueue, stopping: asyncio.Event) -> None:
    """Look for due schedules every :data:`TICK_INTERVAL` until ``stopping`` is set."""
    while not stopping.is_set():
        _, full = await fire_due(app)
        if full:
            continue
        try:
            await asyncio.wait_for(stopping.wait(), TICK_INTERVAL)
        except TimeoutError:
            pass
