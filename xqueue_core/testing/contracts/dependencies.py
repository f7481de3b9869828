"""Contract of the DependencyStore role (DESIGN §7.2): a task created with
``depends_on`` waits, and its last parent's terminal transition releases it in the
same atomic step — pending, or canceled when a parent did not succeed (unless it
runs anyway) — exactly once, however the parents end and whoever ends them."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from ...errors import ValidationError
from ...interfaces import DependencyStore, Store
from ...models import ClaimOutcome, Finish, FinishKind, Task, TaskStatus
from .common import LEASE, make_task

RUN_OUTCOMES = (FinishKind.SUCCESS, FinishKind.FAILED, FinishKind.TIMEOUT, FinishKind.CANCELED)


class DependencyContract:
    """Run with ``store`` and ``other_store`` fixtures of a store with the role."""

    async def _make(self, store: Store, *tasks: Task) -> list[Task]:
        created = await store.create(list(tasks), 0.0)  # due for take_due at once
        assert all(new for _, new in created)
        return [t for t, _ in created]

    async def _end(
        self, store: Store, task: Task, kind: FinishKind = FinishKind.SUCCESS, result: Any = None
    ) -> Any:
        """Run ``task`` to its end as a worker would; the finish's events."""
        claims, _ = await store.claim([task.id], "w1", LEASE)
        assert claims[0].outcome == ClaimOutcome.STARTED, (task.id, claims)
        error = None if kind == FinishKind.SUCCESS else f"it {kind}"
        applied, events = await store.finish([Finish(task.id, "w1", kind, error, result)])
        assert applied == [True]
        return events

    async def _status(self, store: Store, task: Task) -> TaskStatus:
        got = await store.get(task.id)
        assert got is not None
        return got.status

    async def test_a_child_waits_for_every_parent_and_the_last_end_releases_it(
        self, store: Store
    ) -> None:
        assert isinstance(store, DependencyStore)
        a, b = await self._make(store, make_task(), make_task())
        [child] = await self._make(store, make_task(depends_on=[a.id, b.id], queue_timeout=0.2))
        assert child.status == TaskStatus.WAITING
        got = await store.get(child.id)
        assert got is not None and got.depends_on == [a.id, b.id]
        assert got.on_parent_failure == "cancel"
        await asyncio.sleep(0.3)  # a waiting task's queue timeout has not started
        assert {m.task_id for m in await store.take_due(10, 30.0)} == {a.id, b.id}
        await self._end(store, a, result={"n": 1})
        assert await self._status(store, child) == TaskStatus.WAITING
        events = await self._end(store, b, result=[2])
        released = [e for e in events if e.task_id == child.id]
        assert [e.status for e in released] == [TaskStatus.PENDING]  # in the same step
        assert await self._status(store, child) == TaskStatus.PENDING
        assert [m.task_id for m in await store.take_due(10, 30.0)] == [child.id]
        results, more = await store.parent_results(child.id, 0, 10)
        assert results == {a.id: {"n": 1}, b.id: [2]} and more is None

    async def test_a_parent_that_did_not_succeed_cancels_its_descendants(
        self, store: Store
    ) -> None:
        assert isinstance(store, DependencyStore)
        for kind in (FinishKind.FAILED, FinishKind.TIMEOUT, FinishKind.CANCELED):
            parent, other = await self._make(store, make_task(), make_task())
            [child] = await self._make(store, make_task(depends_on=[parent.id, other.id]))
            [grandchild] = await self._make(store, make_task(depends_on=[child.id]))
            [runs] = await self._make(
                store, make_task(depends_on=[parent.id], on_parent_failure="run")
            )
            await self._end(store, parent, kind)
            assert await self._status(store, runs) == TaskStatus.PENDING
            assert await self._status(store, child) == TaskStatus.WAITING  # other is open
            events = await self._end(store, other)
            assert {e.task_id: e.status for e in events if e.task_id != other.id} == {
                child.id: TaskStatus.CANCELED,
                grandchild.id: TaskStatus.CANCELED,
            }
            got = await store.get(child.id)
            assert got is not None and got.error == f"parent {parent.id} ended {kind}"
            got = await store.get(grandchild.id)
            assert got is not None and got.error == f"parent {child.id} ended canceled"

    async def test_parents_that_ended_before_the_child_count_as_ended(self, store: Store) -> None:
        ok, bad = await self._make(store, make_task(), make_task())
        await self._end(store, ok)
        await self._end(store, bad, FinishKind.FAILED)
        [runs_now] = await self._make(store, make_task(depends_on=[ok.id]))
        assert runs_now.status == TaskStatus.PENDING
        [canceled] = await self._make(store, make_task(depends_on=[ok.id, bad.id]))
        assert canceled.status == TaskStatus.CANCELED
        assert canceled.error == f"parent {bad.id} ended failed"
        [runs_anyway] = await self._make(
            store, make_task(depends_on=[bad.id], on_parent_failure="run")
        )
        assert runs_anyway.status == TaskStatus.PENDING
        due = {m.task_id for m in await store.take_due(10, 30.0)}
        assert due == {runs_now.id, runs_anyway.id}

    async def test_a_waiting_task_cancels_at_once_and_stays_canceled(self, store: Store) -> None:
        [parent] = await self._make(store, make_task())
        [child] = await self._make(store, make_task(depends_on=[parent.id]))
        [grandchild] = await self._make(
            store, make_task(depends_on=[child.id], on_parent_failure="run")
        )
        result, events = await store.cancel(child.id)
        assert result is not None and str(result.outcome) == "canceled"
        assert {e.task_id: e.status for e in events} == {
            child.id: TaskStatus.CANCELED,
            grandchild.id: TaskStatus.PENDING,  # it runs anyway
        }
        events = await self._end(store, parent)
        assert [e.task_id for e in events] == [parent.id]  # the child stays canceled
        assert await self._status(store, child) == TaskStatus.CANCELED

    async def test_an_unknown_parent_refuses_the_whole_create(self, store: Store) -> None:
        [parent] = await self._make(store, make_task())
        before = await store.counts()
        with pytest.raises(ValidationError, match="depends_on: no task 'nope'"):
            await store.create([make_task(), make_task(depends_on=[parent.id, "nope"])], 60.0)
        assert await store.counts() == before

    async def test_a_graph_created_in_one_call_waits_in_order(self, store: Store) -> None:
        a = make_task()
        b = make_task(depends_on=[a.id])
        c = make_task(depends_on=[a.id])
        d = make_task(depends_on=[b.id, c.id])
        created = await self._make(store, a, b, c, d)
        assert [t.status for t in created] == [TaskStatus.PENDING] + [TaskStatus.WAITING] * 3
        await self._end(store, a)
        assert [await self._status(store, t) for t in (b, c, d)] == [
            TaskStatus.PENDING,
            TaskStatus.PENDING,
            TaskStatus.WAITING,
        ]

    async def test_parents_ending_at_once_on_two_connections_release_once(
        self, store: Store, other_store: Store
    ) -> None:
        parents = await self._make(store, *[make_task() for _ in range(20)])
        [child] = await self._make(store, make_task(depends_on=[p.id for p in parents]))
        for p in parents:
            claims, _ = await store.claim([p.id], "w1", LEASE)
            assert claims[0].outcome == ClaimOutcome.STARTED
        stores = [store, other_store]
        outcomes = await asyncio.gather(
            *[
                stores[i % 2].finish([Finish(p.id, "w1", FinishKind.SUCCESS, result=i)])
                for i, p in enumerate(parents)
            ]
        )
        releases = [e for _, events in outcomes for e in events if e.task_id == child.id]
        assert [e.status for e in releases] == [TaskStatus.PENDING]
        # (the parents' own publish entries may be dropped first: room for them all)
        assert [m.task_id for m in await store.take_due(100, 30.0)] == [child.id]

    async def test_parent_results_come_in_pages(self, store: Store) -> None:
        assert isinstance(store, DependencyStore)
        parents = await self._make(store, *[make_task() for _ in range(25)])
        [child] = await self._make(store, make_task(depends_on=[p.id for p in parents]))
        for i, p in enumerate(parents[:-1]):
            await self._end(store, p, result={"i": i})
        seen: dict[str, Any] = {}
        offset: int | None = 0
        pages = 0
        while offset is not None:
            page, offset = await store.parent_results(child.id, offset, 10)
            assert len(page) <= 10
            seen.update(page)
            pages += 1
        assert pages == 3 and list(seen) == [p.id for p in parents]
        assert seen[parents[3].id] == {"i": 3} and seen[parents[-1].id] is None  # still open

    async def test_a_workflows_members_are_listed_in_pages(self, store: Store) -> None:
        assert isinstance(store, DependencyStore)
        members = [make_task(workflow="wf-1") for _ in range(5)]
        members[3].depends_on = [members[0].id]
        await self._make(store, *members, make_task(), make_task(workflow="wf-2"))
        seen: list[Task] = []
        cursor = None
        while True:
            page = await store.workflow_tasks("wf-1", cursor, 2)
            assert len(page.tasks) <= 2
            seen += page.tasks
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert [t.id for t in seen] == sorted(t.id for t in members)
        assert {t.workflow for t in seen} == {"wf-1"}
        assert [t.status for t in seen].count(TaskStatus.WAITING) == 1
        assert (await store.workflow_tasks("nope", None, 10)).tasks == []

    async def test_random_graphs_end_as_the_rules_say_each_task_once(self, store: Store) -> None:
        """25 random DAGs of 2-30 tasks with random outcomes and policies, run to the
        end: every task ends in the state the rules give, and starts at most once."""
        by_rule: dict[str, int] = {"ran": 0, "canceled by a parent": 0, "ran anyway": 0}
        for seed in range(25):
            draw = random.Random(seed)
            size = draw.randint(2, 30)
            nodes: list[Task] = []
            for i in range(size):
                parents = draw.sample(nodes, k=min(i, draw.randint(0, 3)))
                policy = draw.choice(["cancel", "run"]) if parents else None
                nodes.append(
                    make_task(depends_on=[p.id for p in parents] or None, on_parent_failure=policy)
                )
            outcome = {t.id: draw.choice(RUN_OUTCOMES) for t in nodes}
            await self._make(store, *nodes)
            started: list[str] = []
            while True:
                due = [m.task_id for m in await store.take_due(100, 30.0)]
                mine = [i for i in due if i in outcome]
                if not mine:
                    break
                for task_id in mine:
                    if outcome[task_id] == FinishKind.CANCELED:
                        await store.cancel(task_id)
                        continue
                    claims, _ = await store.claim([task_id], "w1", LEASE)
                    assert claims[0].outcome == ClaimOutcome.STARTED
                    started.append(task_id)
                    await store.finish([Finish(task_id, "w1", outcome[task_id], "x")])
            assert len(started) == len(set(started))
            expected: dict[str, str] = {}
            for t in nodes:  # in creation order: parents first
                bad = [p for p in t.depends_on or [] if expected[p] != "success"]
                if bad and t.on_parent_failure != "run":
                    expected[t.id] = "canceled"
                    by_rule["canceled by a parent"] += 1
                else:
                    expected[t.id] = str(outcome[t.id])
                    by_rule["ran anyway" if bad else "ran"] += 1
            actual = {t.id: str(await self._status(store, t)) for t in nodes}
            assert actual == expected, seed
        assert min(by_rule.values()) >= 20, by_rule  # every rule was exercised
