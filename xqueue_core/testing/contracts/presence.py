"""Contract of the worker registry (DESIGN §7.4, :mod:`xqueue_core.presence`): a
worker's report replaces its last one, times come from the store's clock, a worker
that stops reporting is gone once its report expires, and a stopped one is forgotten
at once. Mixed into :class:`StoreContract`."""

from __future__ import annotations

import asyncio

from ...interfaces import Store
from ...models import WorkerInfo


def worker_info(worker_id: str, *running: str) -> WorkerInfo:
    return WorkerInfo(
        id=worker_id,
        host="host-a",
        pid=4242,
        types=("t", "u"),
        concurrency=8,
        running=running,
        version="9.9.9",
        started_at=1.0,  # the worker's own times are ignored: the store stamps them
        last_seen=2.0,
        expires_at=3.0,
    )


class PresenceContract:
    """report_worker, workers, forget_worker."""

    async def test_a_report_replaces_the_last_on_the_store_clock(self, store: Store) -> None:
        before = await store.now()
        await store.report_worker(worker_info("w-1", "a", "b"), 30.0)
        await store.report_worker(worker_info("w-0"), 30.0)
        [first, second] = await store.workers()
        assert (first.id, second.id) == ("w-0", "w-1")
        assert second.host == "host-a" and second.pid == 4242 and second.types == ("t", "u")
        assert second.concurrency == 8 and second.running == ("a", "b")
        assert second.version == "9.9.9"
        assert before - 1 <= second.started_at <= second.last_seen <= await store.now() + 1
        assert abs(second.expires_at - (second.last_seen + 30.0)) < 0.01
        await asyncio.sleep(0.05)
        await store.report_worker(worker_info("w-1", "c"), 30.0)
        [again] = [w for w in await store.workers() if w.id == "w-1"]
        assert again.running == ("c",)
        assert again.started_at == second.started_at  # the first report's
        assert again.last_seen > second.last_seen

    async def test_a_silent_worker_is_gone_after_its_ttl_a_stopped_one_at_once(
        self, store: Store
    ) -> None:
        await store.report_worker(worker_info("silent"), 1.0)  # (slack for a loaded machine)
        await store.report_worker(worker_info("stopping"), 30.0)
        assert {w.id for w in await store.workers()} == {"silent", "stopping"}
        await store.forget_worker("stopping")
        await store.forget_worker("never-seen")  # ignored
        assert [w.id for w in await store.workers()] == ["silent"]
        await asyncio.sleep(1.1)
        assert await store.workers() == []
        await store.report_worker(worker_info("silent"), 30.0)  # back: a new start
        [back] = await store.workers()
        assert back.started_at == back.last_seen
