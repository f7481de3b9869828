"""The XQueue methods of periodic schedules (DESIGN §7.1): declare in code, manage at
runtime. See :mod:`xqueue_core.schedules` for what a schedule is and how it ticks."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from .errors import ScheduleNotFound, UserError, ValidationError
from .interfaces import ScheduleStore
from .models import TaskEvent
from .schedules import Schedule, ScheduleState, check_schedule, declared, next_tick
from .ticker import tick_tasks

if TYPE_CHECKING:
    from .events import EventBus
    from .interfaces import Backends
    from .models import Task


class ScheduleControl:
    """Mixed into :class:`~xqueue_core.XQueue`."""

    _declared_schedules: dict[str, Schedule]
    events: EventBus

    def backends(self) -> Backends:
        raise NotImplementedError

    async def _check_type(self, task_type: str) -> None:
        raise NotImplementedError

    def schedule(self, name: str, task_type: str, **fields: Any) -> Schedule:
        """Declare a periodic schedule in code: ``cron="0 3 * * *"`` (5 fields, or 6
        with seconds first) or ``every=60`` (seconds), and ``payload``, ``tz``
        (IANA, default UTC), ``catch_up`` (``skip``/``one``/``all``), ``overlap``
        (``allow``/``skip``), ``jitter`` (seconds), ``enabled``, ``options`` (the
        tasks' submit options). Every worker of the app upserts it when it starts;
        a changed declaration replaces the stored copy, runtime edits of an
        unchanged one (pause, a new payload) stay."""
        schedule = declared(check_schedule({"name": name, "type": task_type, **fields}))
        self._declared_schedules[name] = schedule
        return schedule

    @property
    def declared_schedules(self) -> builtins.list[Schedule]:
        """The schedules this app declares in code (:meth:`schedule`)."""
        return list(self._declared_schedules.values())

    def _schedules(self) -> ScheduleStore:
        store = self.backends().store
        if not isinstance(store, ScheduleStore):
            raise UserError(f"the store {store.url!r} does not keep periodic schedules")
        return store

    async def add_schedule(self, name: str, task_type: str, **fields: Any) -> ScheduleState:
        """Add a schedule at runtime (fields as :meth:`schedule`); refused if the name is
        taken or the type unregistered, with nothing stored."""
        schedule = check_schedule({"name": name, "type": task_type, **fields})
        await self._check_type(schedule.type)
        store = self._schedules()
        now = await self.backends().store.now()
        if not await store.put_schedule(schedule, next_tick(schedule, now), create=True):
            raise ValidationError(f"a schedule named {name!r} exists already")
        return await self.get_schedule(name)

    async def get_schedule(self, name: str) -> ScheduleState:
        """One schedule with its next run, last run and last task."""
        state = await self._schedules().get_schedule(name)
        if state is None:
            raise ScheduleNotFound(f"no schedule named {name!r}")
        return state

    async def list_schedules(self) -> builtins.list[ScheduleState]:
        """Every schedule, by name."""
        return await self._schedules().list_schedules()

    async def update_schedule(self, name: str, **changes: Any) -> ScheduleState:
        """Change fields of a schedule (a new timing applies from its next tick)."""
        state = await self.get_schedule(name)
        if "name" in changes and changes["name"] != name:
            raise ValidationError("a schedule's name cannot change; add a new one")
        schedule = state.schedule.with_changes(**changes)
        await self._check_type(schedule.type)
        now = await self.backends().store.now()
        await self._schedules().put_schedule(
            schedule, next_tick(schedule, now), code_hash=state.code_hash
        )
        return await self.get_schedule(name)

    async def pause_schedule(self, name: str) -> ScheduleState:
        """Stop a schedule's ticks (within a tick interval) until it is resumed."""
        return await self.update_schedule(name, enabled=False)

    async def resume_schedule(self, name: str) -> ScheduleState:
        """Tick again, from the next tick after now (ticks while paused never fire)."""
        return await self.update_schedule(name, enabled=True)

    async def delete_schedule(self, name: str) -> None:
        """Remove a schedule (the tasks it fired stay)."""
        if not await self._schedules().delete_schedule(name):
            raise ScheduleNotFound(f"no schedule named {name!r}")

    async def run_schedule(self, name: str) -> Task:
        """Fire a schedule's task now, outside its ticks (its next tick is unchanged)."""
        state = await self.get_schedule(name)
        store = self.backends().store
        now = await store.now()
        [task] = tick_tasks(self, state.schedule, [now])  # type: ignore[arg-type]
        task.eta = None
        [(created, _)] = await store.create([task], 0.0)
        await self.events.emit([TaskEvent.of(created)])  # to the notifiers, as a tick's
        return created
