"""Contract of replays in the store (DESIGN §7.4, :mod:`xqueue_core.replay`): a task
created with ``replay_of`` points its dead task at itself (``replayed_by``) in the same
step, once; the dead task keeps its terminal state; a second replay under the same
idempotency key is the first. Mixed into :class:`StoreContract`."""

from __future__ import annotations

import asyncio
from typing import Any

from ...interfaces import Store
from ...models import ClaimOutcome, Finish, FinishKind, TaskStatus
from ...replay import replay_key, replay_of
from .common import LEASE, contract_settings, make_task


class ReplayContract:
    async def _open(self, url: str, settings: Any = None) -> Any:
        raise NotImplementedError

    async def test_dead_tasks_are_kept_for_dead_ttl_others_for_result_ttl(
        self, store_url: str
    ) -> None:
        """With result_ttl 0.2 s and dead_ttl an hour, of a success, a failure, a cancel
        and a queue timeout only the failure and the timeout are kept after upkeep."""
        store: Store = await self._open(
            store_url, contract_settings(result_ttl=0.2, dead_ttl=3600.0)
        )
        try:
            made = [t for t, _ in await store.create([make_task() for _ in range(3)], 60.0)]
            timed_out = [t for t, _ in await store.create([make_task(queue_timeout=0.1)], 60.0)]
            for task, kind in zip(made, (FinishKind.SUCCESS, FinishKind.FAILED, None), strict=True):
                if kind is None:
                    await store.cancel(task.id)
                    continue
                claims, _ = await store.claim([task.id], "w1", LEASE)
                assert claims[0].outcome == ClaimOutcome.STARTED
                await store.finish([Finish(task.id, "w1", kind, "x")])
            await asyncio.sleep(0.3)
            await store.maintain(5)  # times the queue timeout out; purges what is due
            await asyncio.sleep(0.3)
            await store.maintain(5)
            kept = {t.id: t.status for t in (await store.list_tasks(limit=10)).tasks}
            assert kept == {made[1].id: TaskStatus.FAILED, timed_out[0].id: TaskStatus.TIMEOUT}
        finally:
            await store.close()

    async def test_a_replay_links_both_records_once(self, store: Store) -> None:
        [(dead, _)] = await store.create([make_task(priority=3, max_retry=2, key="acme")], 60.0)
        claims, _ = await store.claim([dead.id], "w1", LEASE)
        assert claims[0].outcome == ClaimOutcome.STARTED
        await store.finish([Finish(dead.id, "w1", FinishKind.FAILED, "boom")])
        ended = await store.get(dead.id)
        assert ended is not None and ended.status == TaskStatus.FAILED
        first, second = replay_of(ended), replay_of(ended)
        [(made, new)] = await store.create([first], 60.0)
        assert new and made.id == first.id and made.status == TaskStatus.PENDING
        [(again, new_again)] = await store.create([second], 60.0)
        assert not new_again and again.id == first.id  # one replay, whoever asks twice
        old = await store.get(dead.id)
        assert old is not None and old.replayed_by == first.id
        assert old.status == TaskStatus.FAILED and old.error == "boom"  # terminal: kept
        fresh = await store.get(first.id)
        assert fresh is not None and fresh.replay_of == dead.id
        assert (fresh.type, fresh.priority, fresh.max_retry, fresh.key) == ("t", 3, 2, "acme")
        assert fresh.idempotency_key == replay_key(dead.id)
        listed = (await store.list_tasks(TaskStatus.FAILED, "t", limit=10)).tasks
        assert [t.replayed_by for t in listed if t.id == dead.id] == [first.id]
