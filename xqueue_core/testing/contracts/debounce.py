"""Contract of debounce on submit (DESIGN §7.3).

Submits of one type and flow key within the window collapse into one waiting task
(the last payload wins), started ``window`` after the last of them but no later
than ``max_wait`` after the first; one atomic store step each, on the store's
clock. Mixed into :class:`StoreContract`.
"""

from __future__ import annotations

import asyncio

from ...interfaces import Store
from ...models import Task, TaskStatus
from .common import LEASE, make_task


class DebounceContract:
    """Debounce: one waiting task per key, merged payloads, moved and capped starts."""

    async def _debounce(
        self, store: Store, key: str, n: int, window: float = 5.0, max_wait: float | None = None
    ) -> tuple[Task, bool]:
        return await store.debounce(make_task("d", key=key, payload={"n": n}), window, max_wait)

    async def test_submits_within_the_window_collapse_into_one_task(self, store: Store) -> None:
        first, created = await self._debounce(store, "doc-1", 1)
        assert created and first.status == TaskStatus.PENDING
        now = await store.now()
        assert first.eta is not None and abs(first.eta - (now + 5.0)) < 1.0
        second, created_again = await self._debounce(store, "doc-1", 2)
        assert not created_again and second.id == first.id
        assert second.payload == {"n": 2}  # the last payload wins
        assert second.eta is not None and second.eta >= first.eta
        stored = await store.get(first.id)
        assert stored is not None and stored.payload == {"n": 2} and stored.eta == second.eta
        assert (await store.counts())["type"] == {"d": 1}

    async def test_each_key_has_its_own_window(self, store: Store) -> None:
        a, _ = await self._debounce(store, "a", 1)
        b, created = await self._debounce(store, "b", 1)
        assert created and a.id != b.id

    async def test_the_start_moves_but_never_past_max_wait(self, store: Store) -> None:
        # a window of 2 s and a second submit 1 s in: a second of slack for a loaded
        # machine (with 0.4 s and 0.3 s, a stall of 0.1 s made the first task due)
        first, _ = await self._debounce(store, "k", 1, window=2.0, max_wait=2.5)
        opened = await store.now()
        await asyncio.sleep(1.0)
        moved, _ = await self._debounce(store, "k", 2, window=2.0, max_wait=2.5)
        assert moved.id == first.id and moved.eta is not None
        # 1.0 + 2.0 from the first submit, capped at its 2.5
        assert first.eta is not None and first.eta < moved.eta <= opened + 2.5 + 0.05

    async def test_a_due_task_ends_the_window(self, store: Store) -> None:
        first, _ = await self._debounce(store, "k", 1, window=0.2)
        await asyncio.sleep(0.3)  # due now (a scheduler may be publishing it)
        second, created = await self._debounce(store, "k", 2, window=0.2)
        assert created and second.id != first.id
        assert (await store.get(first.id)).payload == {"n": 1}  # type: ignore[union-attr]

    async def test_a_started_or_cancelled_task_ends_the_window(self, store: Store) -> None:
        first, _ = await self._debounce(store, "k", 1, window=0.2)
        await asyncio.sleep(0.3)
        [claim], _ = await store.claim([first.id], "w1", LEASE)
        assert str(claim.outcome) == "started"
        second, created = await self._debounce(store, "k", 2)
        assert created and second.id != first.id
        await store.cancel(second.id)
        third, created = await self._debounce(store, "k", 3)
        assert created and third.id not in (first.id, second.id)

    async def test_concurrent_submits_make_one_task(self, store: Store, other_store: Store) -> None:
        stores = [store, other_store]
        results = await asyncio.gather(
            *[
                stores[i % 2].debounce(make_task("d", key="hot", payload={"n": i}), 5.0, None)
                for i in range(20)
            ]
        )
        assert sum(created for _, created in results) == 1
        assert len({task.id for task, _ in results}) == 1
        assert (await store.counts())["type"] == {"d": 1}
