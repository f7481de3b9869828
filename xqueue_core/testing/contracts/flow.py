"""Contract of per-key concurrency limits and fairness between keys (DESIGN §7.3).

A task's ``key`` (a tenant, a customer) puts it under its key's limit as well as
its type's: at no instant do more than ``limit(type, key)`` run, nor more than
``limit(type)`` in all. A task held back is parked in the store, as for the type's
limit, and woken when a slot it may use frees; wake-ups go round-robin over the
keys with parked work, so a key with a large backlog never delays a small one by
more than a turn. Mixed into :class:`StoreContract`: every store runs it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ...interfaces import Store
from ...models import ClaimOutcome, Finish, FinishKind, KeyUsage, Task
from .common import LEASE, make_task


class KeyLimitContract:
    """Per-key limits: admission, wake-ups, round-robin, runtime changes."""

    async def _keyed(self, store: Store, key: str | None, **fields: Any) -> Task:
        [(task, created)] = await store.create([make_task("t", key=key, **fields)], 60.0)
        assert created and task.key == key
        return task

    async def _claim(self, store: Store, tasks: list[Task], worker: str = "w1") -> list[str]:
        await store.mark_queued([t.id for t in tasks])
        claims, _ = await store.claim([t.id for t in tasks], worker, LEASE)
        return [str(c.outcome) for c in claims]

    async def _due(self, store: Store) -> list[str]:
        return [m.task_id for m in await store.take_due(100, 30.0)]

    async def _done(self, store: Store, task: Task) -> None:
        applied, _ = await store.finish([Finish(task.id, "w1", FinishKind.SUCCESS)])
        assert applied == [True]

    async def _wake_one_at_a_time(
        self, store: Store, running: Task, parked: list[Task], n: int
    ) -> list[str | None]:
        """With the type's limit at 1: finish the running task, start the one woken,
        ``n`` times; the keys in the order they were woken."""
        key_of = {t.id: t.key for t in parked}
        woken_keys = []
        for _ in range(n):
            await self._done(store, running)
            [woken] = await self._due(store)
            woken_keys.append(key_of[woken])
            [claim], _ = await store.claim([woken], "w1", LEASE)
            assert claim.outcome == ClaimOutcome.STARTED and claim.task is not None
            running = claim.task
        return woken_keys

    async def test_the_key_is_kept_with_the_task(self, store: Store) -> None:
        task = await self._keyed(store, "acme")
        assert (await store.get(task.id)).key == "acme"  # type: ignore[union-attr]
        assert (await store.get((await self._keyed(store, None)).id)).key is None  # type: ignore[union-attr]

    async def test_a_key_at_its_limit_defers_only_that_key(self, store: Store) -> None:
        await store.set_key_limit("t", None, 1)
        a1, a2, b1 = (
            await self._keyed(store, "a"),
            await self._keyed(store, "a"),
            await self._keyed(store, "b"),
        )
        assert await self._claim(store, [a1, a2, b1]) == [
            ClaimOutcome.STARTED,
            ClaimOutcome.DEFERRED,
            ClaimOutcome.STARTED,
        ]
        assert await store.key_usage("t", 10) == [KeyUsage("a", 1, 1, 1), KeyUsage("b", 1, 0, 1)]
        assert await self._due(store) == []  # parked: not handed out again
        await self._done(store, b1)
        assert await self._due(store) == []  # b's slot is b's: a is still at its limit
        await self._done(store, a1)
        assert await self._due(store) == [a2.id]
        assert await self._claim(store, [a2]) == [ClaimOutcome.STARTED]

    async def test_an_override_beats_the_default(self, store: Store) -> None:
        await store.set_key_limit("t", None, 1)
        await store.set_key_limit("t", "big", 3)
        assert await store.key_limits() == {"t": {"*": 1, "big": 3}}
        big = [await self._keyed(store, "big") for _ in range(4)]
        small = [await self._keyed(store, "small") for _ in range(2)]
        outcomes = await self._claim(store, [*big, *small])
        assert outcomes == ["started"] * 3 + ["deferred", "started", "deferred"]
        await store.set_key_limit("t", "big", None)  # back to the default: 3 > 1 runs on
        assert await store.key_limits() == {"t": {"*": 1}}
        assert await self._due(store) == []

    async def test_the_type_limit_caps_every_key_together(self, store: Store) -> None:
        await store.set_limit("t", 2)
        await store.set_key_limit("t", None, 5)
        tasks = [await self._keyed(store, k) for k in ("a", "b", "c")]
        assert await self._claim(store, tasks) == ["started", "started", "deferred"]
        assert (await store.running())["t"] == 2

    async def test_a_task_without_a_key_is_only_under_the_type_limit(self, store: Store) -> None:
        await store.set_key_limit("t", None, 1)
        tasks = [await self._keyed(store, None) for _ in range(3)]
        assert await self._claim(store, tasks) == ["started"] * 3

    async def test_raising_or_removing_a_key_limit_wakes_parked_tasks(self, store: Store) -> None:
        await store.set_key_limit("t", None, 1)
        tasks = [await self._keyed(store, "a") for _ in range(4)]
        assert await self._claim(store, tasks) == ["started"] + ["deferred"] * 3
        await store.set_key_limit("t", "a", 2)
        assert await self._due(store) == [tasks[1].id]  # one more slot: one woken
        await store.set_key_limit("t", None, None)
        await store.set_key_limit("t", "a", None)
        assert sorted(await self._due(store)) == sorted(t.id for t in tasks[2:])
        assert await store.key_limits() == {}

    async def test_an_expired_lease_returns_the_keys_slot(self, store: Store) -> None:
        await store.set_key_limit("t", None, 1)
        first = await self._keyed(store, "a")
        await store.mark_queued([first.id])
        claims, _ = await store.claim([first.id], "w1", 0.1)
        assert claims[0].outcome == ClaimOutcome.STARTED
        second = await self._keyed(store, "a")
        assert await self._claim(store, [second]) == ["deferred"]
        await asyncio.sleep(0.2)
        await store.maintain(5)
        # the lost run is due again as well: the one slot goes to one of them
        due = await self._due(store)
        assert sorted(due) == sorted([first.id, second.id])
        claims, _ = await store.claim(due, "w2", LEASE)
        assert sorted(c.outcome for c in claims) == ["deferred", "started"]

    async def test_wake_ups_go_round_robin_over_keys(self, store: Store) -> None:
        await store.set_limit("t", 1)
        running = await self._keyed(store, "z")
        assert await self._claim(store, [running]) == ["started"]
        backlog = [await self._keyed(store, "a") for _ in range(4)]
        small = [await self._keyed(store, k) for k in ("b", "c", "d")]
        assert await self._claim(store, [*backlog, *small]) == ["deferred"] * 7
        key_of = {t.id: t.key for t in [*backlog, *small]}
        woken_ids = []
        for _ in range(7):
            await self._done(store, running)
            [woken] = await self._due(store)
            woken_ids.append(woken)
            [claim], _ = await store.claim([woken], "w1", LEASE)
            assert claim.outcome == ClaimOutcome.STARTED and claim.task is not None
            running = claim.task
        assert [key_of[i] for i in woken_ids] == ["a", "b", "c", "d", "a", "a", "a"]
        assert [i for i in woken_ids if key_of[i] == "a"] == [t.id for t in backlog]  # oldest first

    async def test_wake_ups_take_the_highest_priority_band_first(self, store: Store) -> None:
        # round-robin goes over the keys whose next task is in the highest band parked
        # (high > 0, normal 0, low < 0); a key in a lower band waits, however long
        await store.set_limit("t", 1)
        running = await self._keyed(store, "z")
        assert await self._claim(store, [running]) == ["started"]
        parked = [
            await self._keyed(store, "a"),
            await self._keyed(store, "a"),
            await self._keyed(store, "b", priority=5),
            await self._keyed(store, "c"),
            await self._keyed(store, "d", priority=-3),
            await self._keyed(store, None, priority=2),
        ]
        assert await self._claim(store, parked) == ["deferred"] * 6
        woken_keys = await self._wake_one_at_a_time(store, running, parked, 6)
        # high: no key ('') and b in turn; normal: c, a (after b, wrapping), a; low: d
        assert woken_keys == [None, "b", "c", "a", "a", "d"]

    async def test_a_keys_weight_gives_it_that_many_turns(self, store: Store) -> None:
        await store.set_limit("t", 1)
        await store.set_key_weight("t", "a", 3)
        await store.set_key_weight("t", "c", 2)
        await store.set_key_weight("t", "c", None)  # back to 1
        assert await store.key_weights() == {"t": {"a": 3}}
        running = await self._keyed(store, "z")
        assert await self._claim(store, [running]) == ["started"]
        parked = [await self._keyed(store, k) for k in "ab" for _ in range(5)]
        assert await self._claim(store, parked) == ["deferred"] * 10
        woken_keys = await self._wake_one_at_a_time(store, running, parked, 8)
        assert woken_keys == ["a", "a", "a", "b", "a", "a", "b", "b"]
        await store.set_limit("t", None)  # room for all at once: a's turns in one wake-up
        assert len(await self._due(store)) == 2

    async def test_a_key_limit_is_never_exceeded_under_concurrent_claims(
        self, store: Store, other_store: Store
    ) -> None:
        await store.set_limit("t", 5)
        await store.set_key_limit("t", None, 2)
        tasks = [await self._keyed(store, k) for k in "abc" for _ in range(6)]
        stores = [store, other_store]
        results = await asyncio.gather(
            *[stores[i % 2].claim([t.id], f"w{i}", LEASE) for i, t in enumerate(tasks)]
        )
        started = [
            t.key
            for t, (cs, _) in zip(tasks, results, strict=True)
            for c in cs
            if c.outcome == "started"
        ]
        assert len(started) == 5 and all(started.count(k) <= 2 for k in "abc")
        usage = {u.key: u for u in await store.key_usage("t", 10)}
        assert sum(u.running for u in usage.values()) == 5
        assert sum(u.waiting for u in usage.values()) == 13
