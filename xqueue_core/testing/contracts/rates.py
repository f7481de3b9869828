"""Contract of rate limits (DESIGN §7.3): at most N starts per period, exact.

A rate over a type, over every key of a type (a default) or over one key admits a
start in the claim's atomic step only while its bucket had fewer than N starts in
the last period, on the store's clock. A task held back is parked, not failed
or handed out again; the store's wake-ups (a raised rate, :meth:`take_due`)
reserve it the moment its rates have room and make it due then — a task that
comes later does not take that moment from it. Mixed into :class:`StoreContract`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ...interfaces import Store
from ...models import ClaimOutcome, Task
from ...rates import Rate
from .common import LEASE, make_task

PERIOD = 0.4  # short windows keep the suite quick; the logic does not scale with them


class RateContract:
    """Rate limits: admission, waiting in the store, reserved moments, changes."""

    async def _new(self, store: Store, key: str | None = None, **fields: Any) -> Task:
        [(task, created)] = await store.create([make_task("r", key=key, **fields)], 60.0)
        assert created
        return task

    async def _claim(self, store: Store, tasks: list[Task]) -> list[str]:
        await store.mark_queued([t.id for t in tasks])
        claims, _ = await store.claim([t.id for t in tasks], "w1", LEASE)
        return [str(c.outcome) for c in claims]

    async def _next_due(self, store: Store, within: float = 3.0) -> list[str]:
        """Poll take_due as a worker's scheduler does, until something is due."""
        give_up = time.monotonic() + within
        while time.monotonic() < give_up:
            due = [m.task_id for m in await store.take_due(100, 30.0)]
            if due:
                return due
            await asyncio.sleep(0.01)
        return []

    async def test_rates_are_kept_per_type_per_key_and_by_default(self, store: Store) -> None:
        await store.set_rate("r", None, Rate(50, 1.0))
        await store.set_rate("r", "*", Rate(5, 60.0))
        await store.set_rate("r", "acme", Rate(10, 60.0))
        assert await store.rates() == {
            "r": {"": Rate(50, 1.0), "*": Rate(5, 60.0), "acme": Rate(10, 60.0)}
        }
        await store.set_rate("r", "acme", Rate(20, 0.5))
        await store.set_rate("r", None, None)
        assert await store.rates() == {"r": {"*": Rate(5, 60.0), "acme": Rate(20, 0.5)}}
        await store.set_rate("r", "*", None)
        await store.set_rate("r", "acme", None)
        assert await store.rates() == {}

    async def test_a_type_rate_starts_n_per_period_and_parks_the_rest(self, store: Store) -> None:
        await store.set_rate("r", None, Rate(3, PERIOD))
        tasks = [await self._new(store) for _ in range(5)]
        began = await store.now()
        assert await self._claim(store, tasks) == ["started"] * 3 + ["deferred"] * 2
        assert [m.task_id for m in await store.take_due(100, 30.0)] == []  # parked
        due = await self._next_due(store)
        # woken when the first starts leave the window, not before
        assert await store.now() >= began + PERIOD - 0.05
        assert sorted(due) == sorted(t.id for t in tasks[3:])
        assert await self._claim(store, tasks[3:]) == ["started"] * 2

    async def test_a_key_rate_holds_back_only_its_key(self, store: Store) -> None:
        await store.set_rate("r", "*", Rate(1, 30.0))
        await store.set_rate("r", "big", Rate(2, 30.0))
        a1, a2, b1, g1, g2, g3, n1 = (
            await self._new(store, "a"),
            await self._new(store, "a"),
            await self._new(store, "b"),
            await self._new(store, "big"),
            await self._new(store, "big"),
            await self._new(store, "big"),
            await self._new(store, None),
        )
        outcomes = await self._claim(store, [a1, a2, b1, g1, g2, g3, n1])
        # n1 has no key: only the type's rate is over it, and the type has none
        expected = ["started", "deferred", "started", "started", "started", "deferred", "started"]
        assert outcomes == expected

    async def test_a_task_needs_room_in_both_its_type_and_its_key(self, store: Store) -> None:
        await store.set_rate("r", None, Rate(2, 30.0))
        await store.set_rate("r", "*", Rate(1, 30.0))
        a1, a2, b1, c1 = [await self._new(store, k) for k in "aabc"]
        # a2: its key is full; c1: the type is full (a1 and b1 took its two)
        assert await self._claim(store, [a1, a2, b1, c1]) == [
            "started",
            "deferred",
            "started",
            "deferred",
        ]

    async def test_a_woken_task_keeps_its_moment_from_a_later_task(self, store: Store) -> None:
        await store.set_rate("r", None, Rate(1, PERIOD))
        first, waiting = await self._new(store), await self._new(store)
        assert await self._claim(store, [first, waiting]) == ["started", "deferred"]
        assert await self._next_due(store) == [waiting.id]
        later = await self._new(store)
        assert await self._claim(store, [later]) == ["deferred"]
        assert await self._claim(store, [waiting]) == ["started"]

    async def test_a_rate_is_never_exceeded_under_concurrent_claims(
        self, store: Store, other_store: Store
    ) -> None:
        await store.set_rate("r", None, Rate(4, 30.0))
        await store.set_rate("r", "*", Rate(2, 30.0))
        tasks = [await self._new(store, k) for k in "abc" for _ in range(5)]
        stores = [store, other_store]
        results = await asyncio.gather(
            *[stores[i % 2].claim([t.id], f"w{i}", LEASE) for i, t in enumerate(tasks)]
        )
        started = [
            t.key
            for t, (cs, _) in zip(tasks, results, strict=True)
            for c in cs
            if c.outcome == ClaimOutcome.STARTED
        ]
        assert len(started) == 4 and all(started.count(k) <= 2 for k in "abc")

    async def test_raising_or_removing_a_rate_wakes_parked_tasks(self, store: Store) -> None:
        await store.set_rate("r", None, Rate(1, 60.0))
        tasks = [await self._new(store) for _ in range(3)]
        assert await self._claim(store, tasks) == ["started", "deferred", "deferred"]
        await store.set_rate("r", None, Rate(2, 60.0))
        assert await self._next_due(store) == [tasks[1].id]
        assert await self._claim(store, [tasks[1]]) == ["started"]
        await store.set_rate("r", None, None)
        assert await self._next_due(store) == [tasks[2].id]
        assert await self._claim(store, [tasks[2]]) == ["started"]

    async def test_a_lowered_rate_applies_to_the_next_start(self, store: Store) -> None:
        await store.set_rate("r", None, Rate(5, 60.0))
        tasks = [await self._new(store) for _ in range(4)]
        assert await self._claim(store, tasks[:2]) == ["started"] * 2
        await store.set_rate("r", None, Rate(2, 60.0))
        assert await self._claim(store, tasks[2:]) == ["deferred"] * 2

    async def test_a_cancelled_woken_task_gives_its_moment_to_the_next(self, store: Store) -> None:
        await store.set_rate("r", None, Rate(1, PERIOD))
        first, second, third = [await self._new(store) for _ in range(3)]
        assert await self._claim(store, [first, second, third]) == ["started"] + ["deferred"] * 2
        woken = await self._next_due(store)
        assert woken == [second.id]
        await store.cancel(second.id)
        assert await self._next_due(store, within=PERIOD / 2) == [third.id]
        assert await self._claim(store, [third]) == ["started"]

    async def test_rate_wake_ups_go_round_robin_over_keys(self, store: Store) -> None:
        await store.set_rate("r", None, Rate(1, PERIOD / 2))
        big = [await self._new(store, "big") for _ in range(4)]
        small = await self._new(store, "small")
        assert await self._claim(store, [*big, small]) == ["started"] + ["deferred"] * 4
        woken: list[str] = []
        while small.id not in woken and len(woken) < 4:
            [task_id] = await self._next_due(store)
            woken.append(task_id)
            [claim], _ = await store.claim([task_id], "w1", LEASE)
            assert claim.outcome == ClaimOutcome.STARTED
        assert small.id in woken[:2]  # one turn of the big key at most

    async def test_a_task_over_a_concurrency_limit_takes_no_rate(self, store: Store) -> None:
        await store.set_limit("r", 1)
        await store.set_rate("r", None, Rate(2, 60.0))
        a, b, c = [await self._new(store) for _ in range(3)]
        assert await self._claim(store, [a, b]) == ["started", "deferred"]
        await store.set_limit("r", None)
        assert await self._next_due(store) == [b.id]
        assert await self._claim(store, [b, c]) == ["started", "deferred"]
