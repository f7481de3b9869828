"""StoreContract: what every store must do (DESIGN §3–§4)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ...interfaces import Store
from ...models import (
    CancelOutcome,
    ClaimOutcome,
    Finish,
    FinishKind,
    Message,
    Task,
    TaskStatus,
)
from ...settings import Settings
from ..services import eventually
from .common import LEASE, contract_settings, make_task, open_backend
from .debounce import DebounceContract
from .dependencies import DependencyContract
from .flow import KeyLimitContract
from .pause import PauseContract
from .presence import PresenceContract
from .rates import RateContract
from .replay import ReplayContract
from .schedules import ScheduleStoreContract


class StoreContract(
    KeyLimitContract,
    RateContract,
    DebounceContract,
    ScheduleStoreContract,
    DependencyContract,
    PauseContract,
    PresenceContract,
    ReplayContract,
):
    """What every store must do. Provide a ``store_url`` fixture (fresh per test)."""

    settings = contract_settings()
    autoload_plugins = True  # False: only built-in backends and ``plugins``
    plugins: tuple[object, ...] = ()  # plugin modules to register explicitly

    async def _open(self, url: str, settings: Settings | None = None) -> Any:
        return await open_backend(
            "store", url, settings or self.settings, self.autoload_plugins, self.plugins
        )

    async def _opened(self, url: str) -> AsyncIterator[Store]:
        store: Store = await self._open(url)
        try:
            yield store
        finally:
            await store.close()

    @pytest.fixture
    async def store(self, store_url: str) -> AsyncIterator[Store]:
        async for store in self._opened(store_url):
            yield store

    @pytest.fixture
    async def other_store(self, store_url: str) -> AsyncIterator[Store]:
        """A second connection to the same store, as another process would have."""
        async for store in self._opened(store_url):
            yield store

    async def _create(self, store: Store, **fields: Any) -> Task:
        task_type = fields.pop("type", "t")
        [(task, created)] = await store.create([make_task(task_type, **fields)], 60.0)
        assert created
        return task

    async def _start(
        self, store: Store, task: Task, worker: str = "w1", lease: float = LEASE
    ) -> Task:
        claims, _ = await store.claim([task.id], worker, lease)
        assert claims[0].outcome == ClaimOutcome.STARTED, claims
        assert claims[0].task is not None
        return claims[0].task

    # -- records ---------------------------------------------------------------

    async def test_create_and_get_round_trip(self, store: Store) -> None:
        task = await self._create(
            store,
            payload={"a": [1, "x"]},
            priority=5,
            max_retry=2,
            queue_timeout=0,
            process_timeout=3.5,
        )
        got = await store.get(task.id)
        assert got is not None
        assert got.status == TaskStatus.PENDING
        assert (got.type, got.payload, got.priority, got.max_retry, got.process_timeout) == (
            "t",
            {"a": [1, "x"]},
            5,
            2,
            3.5,
        )
        assert got.created_at == pytest.approx(await store.now(), abs=5)
        assert await store.get("0" * 26) is None

    async def test_idempotency_key_returns_first_task(self, store: Store) -> None:
        first = await self._create(store, idempotency_key="k1")
        [(again, created)] = await store.create([make_task(idempotency_key="k1")], 60.0)
        assert not created
        assert again.id == first.id
        assert (await store.counts())["status"].get("pending") == 1

    # -- claiming and finishing -------------------------------------------------

    async def test_claim_starts_once(self, store: Store, other_store: Store) -> None:
        task = await self._create(store)
        results = await asyncio.gather(
            *[
                s.claim([task.id], f"w{i}", LEASE)
                for i, s in enumerate([store, other_store, store, other_store])
            ]
        )
        outcomes = [claims[0].outcome for claims, _ in results]
        assert outcomes.count(ClaimOutcome.STARTED) == 1
        assert outcomes.count(ClaimOutcome.GONE) == 3
        got = await store.get(task.id)
        assert got is not None and got.status == TaskStatus.PROCESSING

    async def test_claim_emits_processing_event(self, store: Store) -> None:
        task = await self._create(store)
        _claims, events = await store.claim([task.id], "w1", LEASE)
        assert [(e.task_id, e.status, e.worker_id) for e in events] == [
            (task.id, TaskStatus.PROCESSING, "w1")
        ]

    async def test_claim_unknown_or_not_due_is_gone(self, store: Store) -> None:
        later = await self._create(store, eta=time.time() + 3600)
        claims, _ = await store.claim(["0" * 26, later.id], "w1", LEASE)
        assert [c.outcome for c in claims] == [ClaimOutcome.GONE, ClaimOutcome.GONE]
        got = await store.get(later.id)
        assert got is not None and got.status == TaskStatus.PENDING

    async def test_finish_success_once_and_terminal_never_changes(self, store: Store) -> None:
        task = await self._start(store, await self._create(store))
        applied, events = await store.finish(
            [Finish(task.id, "w1", FinishKind.SUCCESS, result={"ok": 1})]
        )
        assert applied == [True]
        assert [e.status for e in events] == [TaskStatus.SUCCESS]
        again, _ = await store.finish([Finish(task.id, "w1", FinishKind.FAILED, error="late")])
        assert again == [False]
        cancel, _ = await store.cancel(task.id)
        assert cancel is not None and cancel.outcome == CancelOutcome.FINISHED
        claims, _ = await store.claim([task.id], "w2", LEASE)
        assert claims[0].outcome == ClaimOutcome.GONE
        got = await store.get(task.id)
        assert got is not None
        assert (got.status, got.result, got.error) == (TaskStatus.SUCCESS, {"ok": 1}, None)
        assert got.completed_at is not None

    async def test_finish_by_another_worker_is_refused(self, store: Store) -> None:
        task = await self._start(store, await self._create(store), worker="w1")
        applied, _ = await store.finish([Finish(task.id, "w2", FinishKind.SUCCESS)])
        assert applied == [False]
        got = await store.get(task.id)
        assert got is not None and got.status == TaskStatus.PROCESSING

    async def test_retry_goes_back_to_pending_with_backoff(self, store: Store) -> None:
        task = await self._start(store, await self._create(store, max_retry=2))
        applied, _events = await store.finish(
            [Finish(task.id, "w1", FinishKind.RETRY, error="boom", retry_delay=0.3)]
        )
        assert applied == [True]
        got = await store.get(task.id)
        assert got is not None
        assert (got.status, got.retry, got.error) == (TaskStatus.PENDING, 1, "boom")
        claims, _ = await store.claim([task.id], "w1", LEASE)
        assert claims[0].outcome == ClaimOutcome.GONE  # its backoff has not passed

        async def due() -> bool:
            return task.id in [m.task_id for m in await store.take_due(100, 30.0)]

        await eventually(due, 5, "the retry to become due")
        await self._start(store, task)

    async def test_release_returns_task_without_using_an_attempt(self, store: Store) -> None:
        task = await self._start(store, await self._create(store))
        applied, _ = await store.finish([Finish(task.id, "w1", FinishKind.RELEASE)])
        assert applied == [True]
        got = await store.get(task.id)
        assert got is not None and (got.status, got.retry) == (TaskStatus.PENDING, 0)
        assert task.id in [m.task_id for m in await store.take_due(100, 30.0)]

    async def test_expired_lease_is_taken_over_and_old_owner_is_fenced(self, store: Store) -> None:
        task = await self._start(store, await self._create(store), worker="w1", lease=0.2)

        async def taken() -> bool:
            claims, _ = await store.claim([task.id], "w2", LEASE)
            return claims[0].outcome == ClaimOutcome.STARTED

        await eventually(taken, 5, "takeover after the lease expired")
        got = await store.get(task.id)
        assert got is not None
        assert (got.worker_id, got.redeliveries) == ("w2", 1)
        applied, _ = await store.finish([Finish(task.id, "w1", FinishKind.SUCCESS)])
        assert applied == [False]
        beat = await store.heartbeat("w1", [task.id], LEASE)
        assert beat.lost == {task.id}

    async def test_heartbeat_extends_lease(self, store: Store, other_store: Store) -> None:
        task = await self._start(store, await self._create(store), lease=2.0)
        for _ in range(6):  # 3 s in all: longer than the first lease
            beat = await store.heartbeat("w1", [task.id], 2.0)
            assert not beat.lost and not beat.cancel_requested
            claims, _ = await other_store.claim([task.id], "w2", LEASE)
            assert claims[0].outcome == ClaimOutcome.GONE
            await asyncio.sleep(0.5)

    async def test_an_expired_lease_is_not_revived(self, store: Store) -> None:
        await store.set_limit("t", 1)
        late = await self._start(store, await self._create(store), lease=0.1)
        await asyncio.sleep(0.2)
        other = await self._start(store, await self._create(store))  # the token was free
        beat = await store.heartbeat("w1", [late.id], LEASE)
        assert beat.lost == {late.id}
        assert (await store.running()).get("t") == 1
        assert other.id != late.id

    async def test_report_progress_only_by_owner(self, store: Store) -> None:
        task = await self._start(store, await self._create(store))
        assert await store.report_progress(task.id, "w2", 0.5) is None
        event = await store.report_progress(task.id, "w1", 0.5)
        assert event is not None and (event.kind, event.progress) == ("progress", 0.5)
        got = await store.get(task.id)
        assert got is not None and got.progress == 0.5

    # -- cancel -----------------------------------------------------------------

    async def test_cancel_pending_running_finished(self, store: Store) -> None:
        pending = await self._create(store)
        result, events = await store.cancel(pending.id)
        assert result is not None and result.outcome == CancelOutcome.CANCELED
        assert [e.status for e in events] == [TaskStatus.CANCELED]
        claims, _ = await store.claim([pending.id], "w1", LEASE)
        assert claims[0].outcome == ClaimOutcome.GONE

        running = await self._start(store, await self._create(store))
        result, _ = await store.cancel(running.id)
        assert result is not None and result.outcome == CancelOutcome.REQUESTED
        beat = await store.heartbeat("w1", [running.id], LEASE)
        assert beat.cancel_requested == {running.id}
        applied, _ = await store.finish(
            [Finish(running.id, "w1", FinishKind.CANCELED, error="canceled")]
        )
        assert applied == [True]
        result, _ = await store.cancel(running.id)
        assert result is not None and result.outcome == CancelOutcome.FINISHED
        assert (await store.cancel("0" * 26))[0] is None

    # -- timeouts and upkeep ------------------------------------------------------

    async def test_queue_timeout_without_any_worker(self, store: Store) -> None:
        reaped = await self._create(store, queue_timeout=0.2)
        await asyncio.sleep(0.3)
        events = await store.maintain(5)
        assert (reaped.id, TaskStatus.TIMEOUT) in [(e.task_id, e.status) for e in events]
        claims, _ = await store.claim([reaped.id], "w1", LEASE)
        assert claims[0].outcome == ClaimOutcome.GONE
        read = await self._create(store, queue_timeout=0.2)
        await asyncio.sleep(0.3)
        got = await store.get(read.id)  # a read of an overdue task turns it into timeout
        assert got is not None and got.status == TaskStatus.TIMEOUT
        assert got.error == "queue timeout"

    async def test_deadline_is_cleared_at_start(self, store: Store) -> None:
        task = await self._start(store, await self._create(store, queue_timeout=0.3))
        await store.finish([Finish(task.id, "w1", FinishKind.RETRY, error="e", retry_delay=0.0)])
        await asyncio.sleep(0.4)  # past the queue timeout counted from its creation
        events = await store.maintain(5)
        assert task.id not in [e.task_id for e in events]  # a started task never times out
        got = await store.get(task.id)
        assert got is not None and got.status == TaskStatus.PENDING
        assert (await store.counts())["status"] == {"pending": 1}
        await self._start(store, task)

    async def test_cancel_requested_then_lease_expiry_is_canceled(self, store: Store) -> None:
        reaped = await self._start(store, await self._create(store))
        claimed = await self._start(store, await self._create(store))
        for task in (reaped, claimed):
            result, _ = await store.cancel(task.id)
            assert result is not None and result.outcome == CancelOutcome.REQUESTED
            await store.heartbeat("w1", [task.id], 0.1)  # its worker's last renewal: it died
        await asyncio.sleep(0.2)
        claims, _ = await store.claim([claimed.id], "w2", LEASE)  # noticed by a claim
        assert claims[0].outcome == ClaimOutcome.GONE
        events = await store.maintain(5)  # noticed by upkeep
        assert (reaped.id, TaskStatus.CANCELED) in [(e.task_id, e.status) for e in events]
        for task in (reaped, claimed):
            got = await store.get(task.id)
            assert got is not None and got.status == TaskStatus.CANCELED
        assert await store.take_due(100, 30.0) == []  # neither runs again
        assert (await store.running()).get("t", 0) == 0

    async def test_maintain_recovers_expired_leases(self, store: Store) -> None:
        task = await self._start(store, await self._create(store), lease=0.1)
        await asyncio.sleep(0.2)
        events = await store.maintain(5)
        assert (task.id, TaskStatus.PENDING) in [(e.task_id, e.status) for e in events]
        got = await store.get(task.id)
        assert got is not None and (got.status, got.redeliveries) == (TaskStatus.PENDING, 1)
        assert task.id in [m.task_id for m in await store.take_due(100, 30.0)]

    async def test_maintain_fails_a_task_lost_too_often(self, store: Store) -> None:
        task = await self._create(store)
        for _ in range(2):
            await self._start(store, task, lease=0.05)
            await asyncio.sleep(0.1)
            await store.maintain(1)
        got = await store.get(task.id)
        assert got is not None and (got.status, got.redeliveries) == (TaskStatus.FAILED, 2)
        assert "lost" in (got.error or "")

    async def test_retention_purges_terminal_tasks(self, store_url: str) -> None:
        store: Store = await self._open(store_url, contract_settings(result_ttl=0.2))
        try:
            task = await self._start(store, await self._create(store))
            await store.finish([Finish(task.id, "w1", FinishKind.SUCCESS)])
            keep = await self._create(store)
            await asyncio.sleep(0.3)
            events = await store.maintain(5)
            assert [(e.task_id, e.kind) for e in events if e.kind == "purged"] == [
                (task.id, "purged")
            ]
            assert await store.get(task.id) is None
            assert await store.get(keep.id) is not None
            page = await store.list_tasks()
            assert [t.id for t in page.tasks] == [keep.id]
        finally:
            await store.close()

    # -- publishing bookkeeping ---------------------------------------------------

    async def test_unpublished_tasks_are_handed_out_after_the_grace(self, store: Store) -> None:
        [(lost, _), (queued, _)] = await store.create([make_task(), make_task()], 0.2)
        await store.mark_queued([queued.id])
        assert await store.take_due(100, 30.0) == []
        await asyncio.sleep(0.3)
        due = await store.take_due(100, 30.0)
        assert [m.task_id for m in due] == [lost.id]
        assert due[0] == Message(lost.id, "t", 0)
        assert await store.take_due(100, 30.0) == []  # held while being published

    async def test_queued_tasks_not_started_are_handed_out_again_with_a_recheck(
        self, store: Store
    ) -> None:
        tasks = [task for task, _ in await store.create([make_task() for _ in range(3)], 60.0)]
        await store.mark_queued([t.id for t in tasks], recheck=0.3)
        assert await store.take_due(100, 30.0) == []
        await self._start(store, tasks[0])  # started: nothing to republish
        await store.mark_queued([tasks[2].id])  # marked again without a recheck: trusted

        async def again() -> bool:
            return [m.task_id for m in await store.take_due(100, 30.0)] == [tasks[1].id]

        await eventually(again, 5, "the unstarted task to be handed out again")
        assert await store.take_due(100, 30.0) == []  # held while being published
        await store.mark_queued([tasks[1].id], recheck=0.3)
        await eventually(again, 5, "the unstarted task to be handed out once more")

    async def test_a_wake_up_between_publish_and_mark_queued_is_kept(self, store: Store) -> None:
        # The publisher marks a task queued after publishing it; in between a worker
        # claimed it, parked it (its type was saturated) and a finish woke it again.
        await store.set_limit("t", 1)
        running = await self._start(store, await self._create(store))
        [(task, _)] = await store.create([make_task()], 60.0)  # published, not yet marked
        claims, _ = await store.claim([task.id], "w2", LEASE)
        assert claims[0].outcome == ClaimOutcome.DEFERRED
        await store.finish([Finish(running.id, "w1", FinishKind.SUCCESS)])  # wakes it
        await store.mark_queued([task.id])  # the publisher, late
        assert [m.task_id for m in await store.take_due(100, 30.0)] == [task.id]

    async def test_a_failed_publish_hands_the_task_to_any_process_at_once(
        self, store: Store, other_store: Store
    ) -> None:
        [(task, _)] = await store.create([make_task()], 0.0)
        assert [m.task_id for m in await store.take_due(100, 60.0)] == [task.id]
        assert await other_store.take_due(100, 60.0) == []  # held for the publisher
        await store.mark_unqueued([task.id])  # its publish failed
        assert [m.task_id for m in await other_store.take_due(100, 60.0)] == [task.id]
        await other_store.mark_queued([task.id])
        assert await store.take_due(100, 60.0) == []

    async def test_mark_unqueued_leaves_running_parked_delayed_and_ended_tasks_alone(
        self, store: Store
    ) -> None:
        await store.set_limit("t", 1)
        running = await self._start(store, await self._create(store))
        [(parked, _)] = await store.create([make_task()], 60.0)
        claims, _ = await store.claim([parked.id], "w2", LEASE)
        assert claims[0].outcome == ClaimOutcome.DEFERRED
        later = await store.now() + 60.0
        [(delayed, _)] = await store.create([make_task("d", eta=later)], 0.0)
        ended = await self._start(store, await self._create(store, type="e"))
        await store.finish([Finish(ended.id, "w1", FinishKind.SUCCESS)])
        await store.mark_unqueued([running.id, parked.id, delayed.id, ended.id, "unknown"])
        assert await store.take_due(100, 60.0) == []  # the delayed one keeps its eta
        assert (await store.get(running.id)).status == TaskStatus.PROCESSING  # type: ignore[union-attr]
        assert (await store.get(ended.id)).status == TaskStatus.SUCCESS  # type: ignore[union-attr]

    async def test_delayed_task_is_due_at_its_eta(self, store: Store) -> None:
        [(task, _)] = await store.create([make_task(eta=time.time() + 0.3)], 0.0)
        assert await store.take_due(100, 30.0) == []

        async def due() -> bool:
            return [m.task_id for m in await store.take_due(100, 30.0)] == [task.id]

        await eventually(due, 5, "the delayed task to become due")
        await self._start(store, task)

    async def test_delayed_task_due_at_its_eta_even_with_a_publish_grace(
        self, store: Store
    ) -> None:
        eta = await store.now() + 1.0
        [(task, _)] = await store.create([make_task(eta=eta)], 60.0)
        assert await store.take_due(100, 30.0) == []

        async def due() -> bool:
            return [m.task_id for m in await store.take_due(100, 30.0)] == [task.id]

        await eventually(due, 15, "the delayed task to be due at its eta, not after the grace")

    async def test_discard_removes_unpublished_tasks(self, store: Store) -> None:
        task = await self._create(store)
        await store.discard([task.id])
        assert await store.get(task.id) is None

    # -- limits -------------------------------------------------------------------

    async def test_limit_defers_and_frees_wake_parked(self, store: Store) -> None:
        await store.set_limit("t", 2)
        tasks = [await self._create(store) for _ in range(3)]
        await store.mark_queued([t.id for t in tasks])
        claims, _ = await store.claim([t.id for t in tasks], "w1", LEASE)
        assert [c.outcome for c in claims] == [
            ClaimOutcome.STARTED,
            ClaimOutcome.STARTED,
            ClaimOutcome.DEFERRED,
        ]
        assert (await store.running()).get("t") == 2
        assert await store.limits() == {"t": 2}
        parked = tasks[2]
        assert parked.id not in [m.task_id for m in await store.take_due(100, 30.0)]
        await store.finish([Finish(tasks[0].id, "w1", FinishKind.SUCCESS)])
        assert [m.task_id for m in await store.take_due(100, 30.0)] == [parked.id]
        await self._start(store, parked)

    async def test_raising_a_limit_wakes_parked_tasks(self, store: Store) -> None:
        await store.set_limit("t", 0)
        task = await self._create(store)
        claims, _ = await store.claim([task.id], "w1", LEASE)
        assert claims[0].outcome == ClaimOutcome.DEFERRED
        await store.set_limit("t", 1)
        assert [m.task_id for m in await store.take_due(100, 30.0)] == [task.id]
        await store.set_limit("t", None)
        assert await store.limits() == {}

    async def test_lowering_a_limit_keeps_running_tasks(self, store: Store) -> None:
        tasks = [await self._create(store) for _ in range(3)]
        for t in tasks[:2]:
            await self._start(store, t)
        await store.set_limit("t", 1)
        assert (await store.running()).get("t") == 2
        claims, _ = await store.claim([tasks[2].id], "w1", LEASE)
        assert claims[0].outcome == ClaimOutcome.DEFERRED
        await store.finish([Finish(tasks[0].id, "w1", FinishKind.SUCCESS)])
        claims, _ = await store.claim([tasks[2].id], "w1", LEASE)
        assert claims[0].outcome == ClaimOutcome.DEFERRED  # still 1 running = the limit
        await store.finish([Finish(tasks[1].id, "w1", FinishKind.SUCCESS)])
        await self._start(store, tasks[2])

    async def test_expired_tokens_come_back(self, store: Store) -> None:
        await store.set_limit("t", 1)
        first = await self._start(store, await self._create(store), lease=0.1)
        second = await self._create(store)
        await asyncio.sleep(0.2)
        assert (await store.running()).get("t", 0) == 0
        await self._start(store, second)
        assert first.id != second.id

    async def _park(self, store: Store, tasks: list[Task]) -> None:
        await store.mark_queued([t.id for t in tasks])
        claims, _ = await store.claim([t.id for t in tasks], "w1", LEASE)
        assert [c.outcome for c in claims] == [ClaimOutcome.DEFERRED] * len(tasks)

    async def test_parked_tasks_are_not_handed_out_while_the_type_stays_saturated(
        self, store: Store
    ) -> None:
        await store.set_limit("t", 1)
        running = await self._start(store, await self._create(store))
        parked = await self._create(store)
        await self._park(store, [parked])
        until = time.monotonic() + 1.5  # longer than any recheck interval a store might use
        while time.monotonic() < until:
            await store.maintain(5)
            assert parked.id not in [m.task_id for m in await store.take_due(100, 30.0)]
            await asyncio.sleep(0.2)
        got = await store.get(parked.id)
        assert got is not None and got.status == TaskStatus.PENDING
        await store.finish([Finish(running.id, "w1", FinishKind.SUCCESS)])
        assert [m.task_id for m in await store.take_due(100, 30.0)] == [parked.id]
        await self._start(store, parked)

    async def test_an_expired_lease_wakes_a_parked_task(self, store: Store) -> None:
        await store.set_limit("t", 1)
        lost = await self._start(store, await self._create(store))
        parked = await self._create(store)
        await self._park(store, [parked])
        await store.heartbeat("w1", [lost.id], 0.1)  # its worker's last renewal: it died
        await asyncio.sleep(0.2)
        await store.maintain(5)
        assert parked.id in [m.task_id for m in await store.take_due(100, 30.0)]
        await self._start(store, parked)

    async def test_upkeep_wakes_parked_tasks_of_a_type_with_free_tokens(self, store: Store) -> None:
        await store.set_limit("t", 1)
        first = await self._start(store, await self._create(store))
        parked = [await self._create(store), await self._create(store)]
        await self._park(store, parked)
        await store.finish([Finish(first.id, "w1", FinishKind.SUCCESS)])
        [woken] = await store.take_due(100, 30.0)  # one token came free: one task woken
        await store.cancel(woken.task_id)  # and canceled before it ran: the token stays free
        [left] = [t for t in parked if t.id != woken.task_id]
        assert await store.take_due(100, 30.0) == []
        await store.maintain(5)
        assert [m.task_id for m in await store.take_due(100, 30.0)] == [left.id]
        await self._start(store, left)

    async def test_limit_is_never_exceeded_under_concurrent_claims(
        self, store: Store, other_store: Store
    ) -> None:
        await store.set_limit("t", 3)
        tasks = [await self._create(store) for _ in range(20)]
        stores = [store, other_store]
        results = await asyncio.gather(
            *[stores[i % 2].claim([t.id], f"w{i}", LEASE) for i, t in enumerate(tasks)]
        )
        started = sum(c.outcome == ClaimOutcome.STARTED for cs, _ in results for c in cs)
        assert started == 3
        assert (await store.running())["t"] == 3

    # -- reading ------------------------------------------------------------------

    async def test_list_filters_and_pages_newest_first(self, store: Store) -> None:
        a = [await self._create(store, type="a") for _ in range(5)]
        b = await self._create(store, type="b")
        await self._start(store, b)
        page = await store.list_tasks(type="a", limit=2)
        assert [t.id for t in page.tasks] == [a[4].id, a[3].id]
        page2 = await store.list_tasks(type="a", limit=2, cursor=page.next_cursor)
        assert [t.id for t in page2.tasks] == [a[2].id, a[1].id]
        page3 = await store.list_tasks(type="a", limit=2, cursor=page2.next_cursor)
        assert [t.id for t in page3.tasks] == [a[0].id] and page3.next_cursor is None
        running = await store.list_tasks(status=TaskStatus.PROCESSING)
        assert [t.id for t in running.tasks] == [b.id]
        counts = await store.counts()
        assert counts["status"].get("pending") == 5 and counts["status"].get("processing") == 1
        assert counts["type"] == {"a": 5, "b": 1}

    async def test_running_tasks_list_newest_first_across_types_and_pages(
        self, store: Store
    ) -> None:
        tasks = [await self._create(store, type="ab"[i % 2]) for i in range(5)]
        for task in tasks:
            await self._start(store, task)
        await self._create(store, type="a")  # pending: not listed
        ids = [t.id for t in reversed(tasks)]
        seen: list[str] = []
        cursor = None
        while True:
            page = await store.list_tasks(status=TaskStatus.PROCESSING, limit=2, cursor=cursor)
            seen += [t.id for t in page.tasks]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == ids
        page = await store.list_tasks(status=TaskStatus.PROCESSING, type="b", limit=1)
        assert [t.id for t in page.tasks] == [tasks[3].id]
        page = await store.list_tasks(
            status=TaskStatus.PROCESSING, type="b", cursor=page.next_cursor
        )
        assert [t.id for t in page.tasks] == [tasks[1].id] and page.next_cursor is None
        assert (await store.counts())["status"] == {"pending": 1, "processing": 5}

    async def test_list_and_counts_time_out_overdue_tasks(self, store: Store) -> None:
        listed = await self._create(store, queue_timeout=0.2)
        await asyncio.sleep(0.3)
        assert (await store.list_tasks(status=TaskStatus.PENDING)).tasks == []
        page = await store.list_tasks()
        assert [(t.id, t.status) for t in page.tasks] == [(listed.id, TaskStatus.TIMEOUT)]
        counted = await self._create(store, queue_timeout=0.2)
        await asyncio.sleep(0.3)
        assert (await store.counts())["status"] == {"timeout": 2}
        got = await store.get(counted.id)
        assert got is not None and (got.status, got.error) == (TaskStatus.TIMEOUT, "queue timeout")

    async def test_announced_types(self, store: Store) -> None:
        await store.announce("w1", ["email", "report"])
        types = await store.known_types()
        assert sorted(t.name for t in types) == ["email", "report"]
        assert all(abs(t.last_seen - time.time()) < 60 for t in types)

    async def test_event_cursor_of_an_empty_log(self, store: Store) -> None:
        head = await store.event_cursor()
        assert head == "0"
        task = await self._create(store)
        assert [e.task_id for _, e in await store.read_events(head, 100, 1.0)] == [task.id]

    async def test_event_log_in_order(self, store: Store, other_store: Store) -> None:
        task = await self._create(store)
        await self._start(store, task)
        await store.finish([Finish(task.id, "w1", FinishKind.SUCCESS)])
        events = await other_store.read_events("0", 1000, 1.0)
        mine = [e for _, e in events if e.task_id == task.id]
        assert [e.status for e in mine] == [
            TaskStatus.PENDING,
            TaskStatus.PROCESSING,
            TaskStatus.SUCCESS,
        ]
        cursors = [c for c, _ in events]
        assert len(set(cursors)) == len(cursors)
        assert await other_store.read_events(cursors[-1], 100, 0.1) == []

        head = await other_store.event_cursor()
        assert await other_store.read_events(head, 100, 0.1) == []
        # A reader waiting at the head wakes up for the next event, and only that one.
        reader = asyncio.create_task(other_store.read_events(head, 100, 10.0))
        other = await self._create(store)
        new = [e.task_id for _, e in await reader]
        assert new == [other.id]
