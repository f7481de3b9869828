"""Contract of pausing a type (DESIGN §7.4): while a type is paused the store
starts none of its tasks — each one a worker claims is parked, as at a limit of
0 — running ones finish, other types flow, and its limit is kept. Resuming wakes
the parked tasks its limits let start. Mixed into :class:`StoreContract`."""

from __future__ import annotations

from ...interfaces import Store
from ...models import ClaimOutcome, Finish, FinishKind, Task
from .common import LEASE, make_task


class PauseContract:
    """Pause and resume: admission, limits kept, wake-ups, no wake-up while paused."""

    async def _task_of(self, store: Store, task_type: str = "t") -> Task:
        [(task, created)] = await store.create([make_task(task_type)], 60.0)
        assert created
        return task

    async def _outcomes(self, store: Store, tasks: list[Task]) -> list[ClaimOutcome]:
        await store.mark_queued([t.id for t in tasks])
        claims, _ = await store.claim([t.id for t in tasks], "w1", LEASE)
        return [c.outcome for c in claims]

    async def _due_now(self, store: Store) -> set[str]:
        return {m.task_id for m in await store.take_due(100, 30.0)}

    async def test_a_paused_type_starts_nothing_running_ones_finish_others_flow(
        self, store: Store
    ) -> None:
        running = await self._task_of(store)
        assert await self._outcomes(store, [running]) == [ClaimOutcome.STARTED]
        assert await store.set_paused("t", True) is True
        assert await store.set_paused("t", True) is False  # already paused
        assert set(await store.paused()) == {"t"}
        held, other = await self._task_of(store), await self._task_of(store, "u")
        assert await self._outcomes(store, [held, other]) == [
            ClaimOutcome.DEFERRED,
            ClaimOutcome.STARTED,
        ]
        assert (await store.running()) == {"t": 1, "u": 1}
        applied, _ = await store.finish([Finish(running.id, "w1", FinishKind.SUCCESS)])
        assert applied == [True]  # the run that was going finishes
        assert held.id not in await self._due_now(store)  # and wakes nothing while paused
        assert await store.set_paused("t", False) is True
        assert await store.set_paused("t", False) is False
        assert await store.paused() == {}
        assert held.id in await self._due_now(store)  # resumed: woken
        assert await self._outcomes(store, [held]) == [ClaimOutcome.STARTED]

    async def test_the_limit_is_kept_and_applies_on_resume(self, store: Store) -> None:
        await store.set_limit("t", 2)
        assert await store.set_paused("t", True)
        tasks = [await self._task_of(store) for _ in range(3)]
        assert await self._outcomes(store, tasks) == [ClaimOutcome.DEFERRED] * 3
        await store.set_limit("t", 1)  # a limit change while paused wakes nothing
        assert not {t.id for t in tasks} & await self._due_now(store)
        assert await store.limits() == {"t": 1}
        await store.set_paused("t", False)
        woken = await self._due_now(store)
        assert len(woken & {t.id for t in tasks}) == 1  # as many as the limit lets start
        assert await store.limits() == {"t": 1}

    async def test_pause_times_come_from_the_store_clock(self, store: Store) -> None:
        before = await store.now()
        await store.set_paused("t", True)
        since = (await store.paused())["t"]
        assert before - 1 <= since <= await store.now() + 1
