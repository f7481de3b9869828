"""Task dependencies through the Python API on the embedded store, run by a worker in
this process: a child waits for its parents, reads their results from ``ctx.parents``
(also in a process executor), and bad ``depends_on`` input changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from xqueue_core import TaskContext, ValidationError, XQueue


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
        return {"sum": sum(v for v in ctx.parents.values() if v is not None), "n": len(ctx.parents)}

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
