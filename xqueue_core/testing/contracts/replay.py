"""Contract of replays in the store (DESIGN §7.4, :mod:`xqueue_core.replay`): a task
created with ``replay_of`` points its dead task at itself (``replayed_by``) in the same
step, once; the dead task keeps its terminal state; a second replay under the same
idempotency key is the first. Mixed into :class:`StoreContract`."""

from __future__ import annotations

from ...interfaces import Store
from ...models import ClaimOutcome, Finish, FinishKind, TaskStatus
from ...replay import replay_key, replay_of
from .common import LEASE, make_task


class ReplayContract:
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
