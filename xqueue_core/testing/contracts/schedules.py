"""Contract of the ScheduleStore role (DESIGN §7.1): definitions, next ticks, and the
fire step — a compare-and-set of the schedule's next tick that creates the tick's task
in the same atomic step, so a tick fires exactly once however many processes tick."""

from __future__ import annotations

import asyncio
from typing import Any

from ...ids import new_id
from ...interfaces import ScheduleStore, Store
from ...models import Finish, FinishKind, Task
from ...schedules import Schedule, TickFire, check_schedule
from .common import LEASE


class ScheduleStoreContract:
    """Run with a ``store`` and an ``other_store`` fixture (two connections to one store)."""

    def _schedule(self, **fields: Any) -> Schedule:
        return check_schedule({"name": "nightly", "type": "t", "every": 60, **fields})

    def _tick_task(self, schedule: Schedule, tick: float) -> Task:
        return Task(
            id=new_id(),
            type=schedule.type,
            payload=schedule.payload,
            schedule=schedule.name,
            scheduled_for=tick,
        )

    async def _fire(
        self, store: ScheduleStore, name: str, expected: float, new: float, tasks: list[Task]
    ) -> list[Task] | None:
        [fired] = await store.fire_schedules([TickFire(name, expected, new, tasks)])
        return fired

    async def test_a_schedule_is_kept_and_a_duplicate_add_changes_nothing(
        self, store: ScheduleStore
    ) -> None:
        s = self._schedule(payload={"a": 1})
        assert await store.put_schedule(s, 1000.0, create=True)
        assert not await store.put_schedule(s.with_changes(payload={"a": 2}), 5.0, create=True)
        state = await store.get_schedule("nightly")
        assert state is not None and state.schedule == s and state.next_at == 1000.0
        assert [x.schedule.name for x in await store.list_schedules()] == ["nightly"]
        assert await store.delete_schedule("nightly")
        assert not await store.delete_schedule("nightly")
        assert await store.get_schedule("nightly") is None

    async def test_a_tick_fires_once_however_many_fire_it(
        self, store: Store, other_store: Store
    ) -> None:
        assert isinstance(store, ScheduleStore) and isinstance(other_store, ScheduleStore)
        s = self._schedule()
        now = await store.now()
        await store.put_schedule(s, now - 1.0)
        stores = [store, other_store]
        results = await asyncio.gather(
            *[
                self._fire(
                    stores[i % 2], "nightly", now - 1.0, now + 59.0, [self._tick_task(s, now - 1.0)]
                )
                for i in range(10)
            ]
        )
        fired = [r for r in results if r is not None]
        assert len(fired) == 1 and len(fired[0]) == 1
        task = fired[0][0]
        stored = await store.get(task.id)
        assert stored is not None and stored.schedule == "nightly"
        assert stored.scheduled_for == now - 1.0 and str(stored.status) == "pending"
        assert [m.task_id for m in await store.take_due(10, 30.0)] == [task.id]  # due now
        state = await store.get_schedule("nightly")
        assert state is not None and state.next_at == now + 59.0
        assert (state.last_run, state.last_task_id) == (now - 1.0, task.id)
        assert (await store.counts())["type"] == {"t": 1}

    async def test_due_schedules_go_by_the_stores_clock(self, store: ScheduleStore) -> None:
        assert isinstance(store, Store)
        now = await store.now()
        await store.put_schedule(self._schedule(name="due"), now - 5.0)
        await store.put_schedule(self._schedule(name="later"), now + 600.0)
        await store.put_schedule(self._schedule(name="paused", enabled=False), now - 5.0)
        clock, due = await store.due_schedules(10)
        assert abs(clock - now) < 5.0
        assert [x.schedule.name for x in due] == ["due"]

    async def test_the_next_tick_never_moves_back_unless_the_timing_changed(
        self, store: ScheduleStore
    ) -> None:
        s = self._schedule()
        await store.put_schedule(s, 1000.0)
        await store.put_schedule(s.with_changes(payload={"b": 1}), 940.0)  # a stale upsert
        assert (await store.get_schedule("nightly")).next_at == 1000.0  # type: ignore[union-attr]
        await store.put_schedule(s.with_changes(every=30), 970.0)  # new timing: from now on
        assert (await store.get_schedule("nightly")).next_at == 970.0  # type: ignore[union-attr]

    async def test_a_paused_or_changed_schedule_does_not_fire(self, store: ScheduleStore) -> None:
        s = self._schedule()
        await store.put_schedule(s, 1000.0)
        assert await self._fire(store, "nightly", 999.0, 1060.0, []) is None  # stale tick
        await store.put_schedule(s.with_changes(enabled=False), 1000.0)
        assert await self._fire(store, "nightly", 1000.0, 1060.0, []) is None
        assert await self._fire(store, "gone", 1000.0, 1060.0, []) is None

    async def test_one_call_fires_many_schedules_each_on_its_own(self, store: Store) -> None:
        """A batch is a compare-and-set per schedule: a stale one in it changes nothing
        of itself and does not stop the others."""
        assert isinstance(store, ScheduleStore)
        a, b, c = (self._schedule(name=n) for n in ("a", "b", "c"))
        for s in (a, b, c):
            await store.put_schedule(s, 1000.0)
        fires = [
            TickFire("a", 1000.0, 1060.0, [self._tick_task(a, 1000.0)]),
            TickFire("b", 940.0, 1000.0, [self._tick_task(b, 940.0)]),  # stale: not fired
            TickFire("c", 1000.0, 1120.0, [self._tick_task(c, 1000.0), self._tick_task(c, 1060.0)]),
        ]
        fired_a, fired_b, fired_c = await store.fire_schedules(fires)
        assert fired_b is None and fired_a is not None and fired_c is not None
        assert [t.scheduled_for for t in fired_a + fired_c] == [1000.0, 1000.0, 1060.0]
        states = {x.schedule.name: x for x in await store.list_schedules()}
        assert {n: x.next_at for n, x in states.items()} == {"a": 1060.0, "b": 1000.0, "c": 1120.0}
        assert states["b"].last_task_id is None and states["c"].last_task_id == fired_c[-1].id
        assert (await store.counts())["type"] == {"t": 3}
        assert await store.fire_schedules([]) == []

    async def test_overlap_skip_fires_nothing_while_the_last_task_runs(self, store: Store) -> None:
        assert isinstance(store, ScheduleStore)
        s = self._schedule(overlap="skip")
        await store.put_schedule(s, 1000.0)
        [first] = await self._fire(store, "nightly", 1000.0, 1060.0, [self._tick_task(s, 1000.0)])  # type: ignore[misc]
        await store.mark_queued([first.id])
        await store.claim([first.id], "w1", LEASE)
        assert (
            await self._fire(store, "nightly", 1060.0, 1120.0, [self._tick_task(s, 1060.0)]) == []
        )
        state = await store.get_schedule("nightly")
        assert state is not None and state.next_at == 1120.0 and state.last_task_id == first.id
        await store.finish([Finish(first.id, "w1", FinishKind.SUCCESS)])
        fired = await self._fire(store, "nightly", 1120.0, 1180.0, [self._tick_task(s, 1120.0)])
        assert fired is not None and len(fired) == 1
