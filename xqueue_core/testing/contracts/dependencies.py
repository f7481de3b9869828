"""Contract of the DependencyStore role (DESIGN §7.2): a task created with
``depends_on`` waits, and its last parent's terminal transition releases it in the
same atomic step — pending, or canceled when a parent did not succeed (unless it
runs anyway) — exactly once, however the parents end and whoever ends them."""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

from ...errors import ValidationError
from ...interfaces import DependencyStore, Store
from ...models import ClaimOutcome, Finish, FinishKind, Task, TaskStatus
from .common import LEASE, make_task

RUN_OUTCOMES = (FinishKind.SUCCESS, FinishKind.FAILED, FinishKind.TIMEOUT, FinishKind.CANCELED)

# a node of a random graph: its parents (indexes of earlier nodes), policy, outcome
GraphNode = tuple[list[int], str | None, FinishKind]


@st.composite
def graphs(draw: st.DrawFn) -> list[GraphNode]:
    """A random DAG of 2-30 nodes, each with 0-3 earlier nodes as parents, a policy
    when it has parents, and the way it ends if it runs."""
    out: list[GraphNode] = []
    for i in range(draw(st.integers(2, 30))):
        parents = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        policy = draw(st.sampled_from(["cancel", "run"])) if parents else None
        out.append((parents, policy, draw(st.sampled_from(RUN_OUTCOMES))))
    return out


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
        assert got.on_parent_failure is None  # kept as given: the core picks the default
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

    async def test_a_keyed_workflow_is_created_whole_or_found_whole(self, store: Store) -> None:
        """Members with idempotency keys: a repeat of the graph (new ids, the same keys)
        returns the first members and creates nothing; a graph whose members' keys
        are partly in use is refused whole, whether or not a new member depends on
        one whose key is used, and so are keyed members of a workflow id that has
        members already."""
        assert isinstance(store, DependencyStore)
        a = make_task(workflow="wf-a", idempotency_key="k-a")
        b = make_task(workflow="wf-a", idempotency_key="k-b", depends_on=[a.id])
        await self._make(store, a, b)
        a2 = make_task(workflow="wf-b", idempotency_key="k-a")
        b2 = make_task(workflow="wf-b", idempotency_key="k-b", depends_on=[a2.id])
        again = await store.create([a2, b2], 0.0)
        assert [(t.id, new, t.workflow) for t, new in again] == [
            (a.id, False, "wf-a"),
            (b.id, False, "wf-a"),
        ]
        for rest in (
            [make_task(workflow="wf-c", idempotency_key="k-c")],  # no parent among them
            [make_task(workflow="wf-c", idempotency_key="k-c", depends_on=[a2.id])],
        ):
            used = make_task(workflow="wf-c", idempotency_key="k-a")
            with pytest.raises(ValidationError, match="partly in use"):
                await store.create([used, *rest], 0.0)
            assert await store.get(rest[0].id) is None  # nothing stored
        assert (await store.workflow_tasks("wf-c", None, 10)).tasks == []
        late = make_task(workflow="wf-a", idempotency_key="k-z")  # new keys, a used id
        with pytest.raises(ValidationError, match="partly in use"):
            await store.create([late], 0.0)
        assert await store.get(late.id) is None

    async def test_random_graphs_end_as_the_rules_say_each_task_once(self, store: Store) -> None:
        """Hypothesis: random DAGs of 2-30 tasks (0-3 parents each) with random
        outcomes and policies, run to the end: every task ends in the state the rules
        give, and starts at most once. (The search runs in a thread, each example on
        this test's event loop, where the store lives.)"""
        loop = asyncio.get_running_loop()
        by_rule: dict[str, int] = {"ran": 0, "canceled by a parent": 0, "ran anyway": 0}

        @hypothesis.settings(max_examples=40, deadline=None, database=None)
        @hypothesis.given(graphs())
        def check(graph: list[GraphNode]) -> None:
            ruled = asyncio.run_coroutine_threadsafe(self._run_graph(store, graph), loop)
            for rule, n in ruled.result(timeout=60).items():
                by_rule[rule] += n

        await asyncio.to_thread(check)
        assert min(by_rule.values()) >= 20, by_rule  # every rule was exercised

    async def _run_graph(self, store: Store, graph: list[GraphNode]) -> dict[str, int]:
        """Create ``graph``, run it as workers would, check each end; the rules seen."""
        nodes: list[Task] = []
        for parents, policy, _ in graph:
            depends_on = [nodes[p].id for p in parents] or None
            nodes.append(make_task(depends_on=depends_on, on_parent_failure=policy))
        outcome = {t.id: kind for t, (_, _, kind) in zip(nodes, graph, strict=True)}
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
        rules: dict[str, int] = {"ran": 0, "canceled by a parent": 0, "ran anyway": 0}
        for t in nodes:  # in creation order: parents first
            bad = [p for p in t.depends_on or [] if expected[p] != "success"]
            if bad and t.on_parent_failure != "run":
                expected[t.id] = "canceled"
                rules["canceled by a parent"] += 1
            else:
                expected[t.id] = str(outcome[t.id])
                rules["ran anyway" if bad else "ran"] += 1
        actual = {t.id: str(await self._status(store, t)) for t in nodes}
        assert actual == expected
        return rules
