"""Task dependencies through the Python API on the embedded store, run by a worker in
this process: a child waits for its parents, reads their results from ``ctx.parents``
(also in a process executor), and bad ``depends_on`` input changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from xqueue_core import Node, TaskContext, ValidationError, WorkflowNotFound, XQueue


def make(url: str) -> XQueue:
    app = XQueue("deps", broker=url, store=url, autoload_plugins=False)

    @app.task("square")
    async def square(payload: dict[str, Any]) -> int:
        n = int(payload["n"])
        if n < 0:
            raise ValueError("negative")
        return n * n

    @app.task("total")
    async def total(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        values = [v if isinstance(v, int) else v["sum"] for v in ctx.parents.values() if v]
        return {"sum": sum(values), "n": len(ctx.parents)}

    app.task("total_in_a_process", executor="process")(parents_in_a_process)
    return app


def parents_in_a_process(payload: dict[str, Any], ctx: TaskContext) -> list[Any]:
    return sorted(ctx.parents.values())


async def test_a_child_runs_after_its_parents_with_their_results(tmp_path: Path) -> None:
    app = make(f"sqlite:///{tmp_path / 'q.db'}")
    async with app:
        parents = [await app.submit("square", {"n": n}) for n in (2, 3, 4)]
        ids = [p.id for p in parents]
        child = await app.submit("total", depends_on=ids)
        other = await app.submit("total_in_a_process", depends_on=ids)
        assert child.status == "waiting" and child.depends_on == ids
        worker = app.worker(concurrency=4)
        await worker.start()
        try:
            done = await app.wait(child.id, timeout=20)
            in_process = await app.wait(other.id, timeout=20)
        finally:
            await worker.shutdown()
    assert done.status == "success" and done.result == {"sum": 29, "n": 3}
    assert in_process.status == "success" and in_process.result == [4, 9, 16]


async def test_a_failed_parent_cancels_the_child_unless_it_runs_anyway(tmp_path: Path) -> None:
    app = make(f"sqlite:///{tmp_path / 'q.db'}")
    async with app:
        bad = await app.submit("square", {"n": -1})
        good = await app.submit("square", {"n": 5})
        canceled = await app.submit("total", depends_on=[bad.id, good.id])
        anyway = await app.submit("total", depends_on=[bad.id, good.id], on_parent_failure="run")
        worker = app.worker(concurrency=4)
        await worker.start()
        try:
            ended = await app.wait(canceled.id, timeout=20)
            ran = await app.wait(anyway.id, timeout=20)
        finally:
            await worker.shutdown()
    assert ended.status == "canceled" and ended.error == f"parent {bad.id} ended failed"
    assert ran.status == "success" and ran.result == {"sum": 25, "n": 2}  # no result: None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"depends_on": "abc"}, "depends_on must be a list of task ids"),
        ({"depends_on": []}, "depends_on must name 1 to 10000 tasks, got 0"),
        ({"depends_on": [1]}, "depends_on: 1 is not a task id"),
        ({"depends_on": ["nope"]}, "depends_on: no task 'nope' in this store"),
        ({"on_parent_failure": "run"}, "on_parent_failure needs depends_on"),
        ({"depends_on": ["x"], "on_parent_failure": "skip"}, "must be one of cancel, run"),
    ],
)
async def test_bad_depends_on_is_refused_and_changes_nothing(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    app = make(f"sqlite:///{tmp_path / 'q.db'}")
    async with app:
        await app.submit("square", {"n": 1})
        with pytest.raises(ValidationError, match=message):
            await app.submit("total", **options)
        assert (await app.stats())["total"] == 1


async def test_chain_group_chord_and_a_dag_run_in_order_with_one_submit_each(
    tmp_path: Path,
) -> None:
    app = make(f"sqlite:///{tmp_path / 'q.db'}")
    async with app:
        chain = await app.chain(Node.of("square", {"n": 2}), Node.of("total"), Node.of("total"))
        chord = await app.chord([Node.of("square", {"n": n}) for n in range(10)], Node.of("total"))
        group = await app.group(Node.of("square", {"n": 1}), Node.of("square", {"n": 2}))
        dag = await app.submit_workflow(
            {"a": Node.of("square", {"n": 3}), "b": Node.of("square", {"n": 4}),
             "c": Node.of("total"), "d": Node.of("total")},
            {"c": ["a", "b"], "d": ["c", "a"]},
        )  # fmt: skip
        state = await app.get_workflow(chord.id)
        assert state.status == "running" and state.counts() == {"pending": 10, "waiting": 1}
        worker = app.worker(concurrency=8)
        await worker.start()
        try:
            states = [await app.wait_workflow(w.id, timeout=30) for w in (chain, chord, group, dag)]
        finally:
            await worker.shutdown()
        assert [s.status for s in states] == ["success"] * 4
        callback = await app.get(chord.task_ids["callback"])
        assert callback.result == {"sum": sum(n * n for n in range(10)), "n": 10}
        last = await app.get(chain.task_ids["2"])
        assert last.result == {"sum": 4, "n": 1}
        d = await app.get(dag.task_ids["d"])
        assert d.depends_on == [dag.task_ids["c"], dag.task_ids["a"]]
        assert d.result == {"sum": 25 + 9, "n": 2}


async def test_a_failing_member_cancels_what_follows_and_cancel_workflow_ends_the_rest(
    tmp_path: Path,
) -> None:
    app = make(f"sqlite:///{tmp_path / 'q.db'}")
    async with app:
        chain = await app.chain(Node.of("square", {"n": -1}), Node.of("total"), Node.of("total"))
        waiting = await app.chord([Node.of("square", {"n": 1})], Node.of("total"))
        canceled = await app.cancel_workflow(waiting.id)
        assert canceled.status == "canceled" and canceled.counts() == {"canceled": 2}
        worker = app.worker(concurrency=2)
        await worker.start()
        try:
            state = await app.wait_workflow(chain.id, timeout=30)
        finally:
            await worker.shutdown()
    assert state.status == "failed"
    assert [str(t.status) for t in state.tasks] == ["failed", "canceled", "canceled"]
    first, second, _ = (t.id for t in state.tasks)
    assert state.tasks[2].error == f"parent {second} ended canceled"
    assert state.tasks[1].error == f"parent {first} ended failed"


@pytest.mark.parametrize(
    ("nodes", "edges", "message"),
    [
        ({}, {}, "a workflow needs at least one task"),
        ({"a": Node.of("square")}, {"a": ["b"]}, "no node 'b'"),
        (
            {"a": Node.of("square"), "b": Node.of("square"), "c": Node.of("square")},
            {"a": ["c"], "b": ["a"], "c": ["b"]},
            "the graph has a cycle: a <- c <- b <- a",
        ),
        ({"a": Node.of("nope")}, {}, "no worker has registered task type 'nope'"),
        ({"a": Node.of("square", {"n": 1}, priority="high")}, {}, "node 'a': priority must be"),
        (
            {"a": Node.of("square", on_parent_failure="run")},
            {},
            "node 'a': on_parent_failure needs",
        ),
        ({"a": Node.of("square", depends_on=["x"])}, {}, "node 'a': depends_on is not a workflow"),
    ],
)
async def test_a_bad_graph_is_refused_whole(
    tmp_path: Path, nodes: dict[str, Node], edges: dict[str, list[str]], message: str
) -> None:
    app = make(f"sqlite:///{tmp_path / 'q.db'}")
    async with app:
        with pytest.raises(ValidationError, match=message):
            await app.submit_workflow({"ok": Node.of("square"), **nodes} if nodes else {}, edges)
        assert (await app.stats())["total"] == 0


async def test_a_graph_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    app = make(f"sqlite:///{tmp_path / 'q.db'}")
    async with app:
        with pytest.raises(ValidationError, match="a workflow has at most 20000 tasks, got 20001"):
            await app.group(*[Node.of("square")] * 20_001)
        with pytest.raises(WorkflowNotFound, match="no workflow 'nope'"):
            await app.get_workflow("nope")


async def test_a_workflow_with_an_idempotency_key_is_submitted_once(tmp_path: Path) -> None:
    """The same graph under the same key again returns the first workflow and
    creates nothing; another graph under that key is refused whole."""
    app = make(f"sqlite:///{tmp_path / 'q.db'}")
    async with app:
        members = [Node.of("square", {"n": n}) for n in range(3)]
        first = await app.chord(members, Node.of("total"), idempotency_key="order-7")
        again = await app.chord(members, Node.of("total"), idempotency_key="order-7")
        assert again == first
        assert (await app.stats())["total"] == 4
        tasks = (await app.get_workflow(first.id)).tasks
        assert len({t.idempotency_key for t in tasks}) == 4  # one per member
        with pytest.raises(ValidationError, match="'order-7' is in use by another workflow"):
            await app.chord(
                [*members, Node.of("square")], Node.of("total"), idempotency_key="order-7"
            )
        with pytest.raises(ValidationError, match="idempotency_key must be a string"):
            await app.group(Node.of("square"), idempotency_key="")
        with pytest.raises(ValidationError, match="give idempotency_key to the whole workflow"):
            await app.group(Node.of("square", idempotency_key="x"))
        assert (await app.stats())["total"] == 4  # nothing more stored
        other = await app.chord(members, Node.of("total"), idempotency_key="order-8")
        assert other.id != first.id


async def test_a_rolled_back_graph_leaves_no_dependency_rows(tmp_path: Path) -> None:
    """The embedded store's discard (a create whose publish failed) drops the
    graph's deps and waits rows too, as parents and as children."""
    import sqlite3

    db = tmp_path / "q.db"
    app = make(f"sqlite:///{db}")
    async with app:
        outside = await app.submit("square", {"n": 1})
        chord = await app.chord([Node.of("square", {"n": 2})] * 3, Node.of("total"))
        child = await app.submit("total", depends_on=[outside.id])
        _, store = app.backends()
        await store.discard([*chord.task_ids.values(), child.id])

    def rows() -> dict[str, int]:
        conn = sqlite3.connect(db)
        try:
            return {
                t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("deps", "waits")
            }
        finally:
            conn.close()

    assert rows() == {"deps": 0, "waits": 0}
