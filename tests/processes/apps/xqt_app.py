"""Task handlers for the core's real-process tests (``xqueue worker xqt_app:app``).

Every handler appends ``start``/``end`` lines to the JSON-lines file named by
``$XQT_RECORD`` (under an exclusive lock, so the file order is the real order
across processes). Settings come from the ``XQUEUE_*`` environment of the worker.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from xqueue_core import TaskContext, XQueue
from xqueue_core.testing.workers import append_record, read_records


def record(kind: str, **fields: Any) -> None:
    """Append one line to the record file (a no-op when ``$XQT_RECORD`` is unset)."""
    append_record(os.environ.get("XQT_RECORD"), kind, **fields)


def _runs_before(task_id: str) -> int:
    path = os.environ.get("XQT_RECORD")
    if not path:
        return 0
    return sum(
        1 for r in read_records(path) if r["kind"] == "start" and r.get("task_id") == task_id
    )


class _Recorded:
    """``start`` on entry; ``end`` with the outcome on exit, however the run ends."""

    def __init__(self, ctx: TaskContext, **extra: Any) -> None:
        self.ctx = ctx
        self.extra = extra

    def __enter__(self) -> _Recorded:
        fields = {"task_id": self.ctx.task_id, "type": self.ctx.type, "attempt": self.ctx.attempt}
        record("start", **fields, **self.extra)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        outcome = "ok" if exc_type is None else exc_type.__name__
        record("end", task_id=self.ctx.task_id, type=self.ctx.type, outcome=outcome)


def make_app(name: str = "xqt", **options: Any) -> XQueue:
    """A fresh app with every test handler (the tests' own clients use it too)."""
    app = XQueue(name, **options)

    async def sleeper(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        with _Recorded(ctx):
            await asyncio.sleep(float(payload.get("seconds", 0)))
        return {"slept": payload.get("seconds", 0)}

    for task_type in ("sleep", "limited", "other"):
        app.task(task_type)(sleeper)

    @app.task("tenanted", key="tenant")
    async def tenanted(payload: dict[str, Any], ctx: TaskContext) -> None:
        """A sleeper whose tasks have a flow key: the payload's ``tenant``."""
        with _Recorded(ctx, key=str(payload["tenant"])):
            await asyncio.sleep(float(payload.get("seconds", 0)))

    @app.task("once_slow")
    async def once_slow(payload: dict[str, Any], ctx: TaskContext) -> int:
        """Slow on the first run of the task, quick on any re-run."""
        first = _runs_before(ctx.task_id) == 0
        with _Recorded(ctx, first=first):
            await asyncio.sleep(float(payload["first"] if first else payload.get("then", 0)))
        return _runs_before(ctx.task_id)

    @app.task("block")
    async def block(payload: dict[str, Any], ctx: TaskContext) -> None:
        """Blocks the worker's event loop (a sync sleep inside an async handler)."""
        with _Recorded(ctx):
            time.sleep(float(payload["seconds"]))  # noqa: ASYNC251 - the point of the test

    @app.task("hog")
    async def hog(payload: dict[str, Any], ctx: TaskContext) -> int:
        """Hogs the CPU on the event loop, never awaiting."""
        with _Recorded(ctx):
            end, n = time.monotonic() + float(payload["seconds"]), 0
            while time.monotonic() < end:
                n += 1
        return n

    @app.task("sync_sleep")
    def sync_sleep(payload: dict[str, Any], ctx: TaskContext) -> None:
        """A plain function (thread executor) that sleeps in small steps."""
        with _Recorded(ctx):
            end = time.monotonic() + float(payload["seconds"])
            while time.monotonic() < end:
                time.sleep(0.01)

    app.task("proc_spin", executor="process")(proc_spin)

    @app.task("flaky")
    async def flaky(payload: dict[str, Any], ctx: TaskContext) -> int:
        """Fails until attempt ``succeed_on`` (0: always fails)."""
        with _Recorded(ctx):
            succeed_on = int(payload.get("succeed_on", 0))
            if succeed_on == 0 or ctx.attempt < succeed_on:
                raise RuntimeError(f"attempt {ctx.attempt} fails on purpose")
        return ctx.attempt

    @app.task("once_slow_fail")
    async def once_slow_fail(payload: dict[str, Any], ctx: TaskContext) -> None:
        """Sleeps, then fails (so it would be retried)."""
        with _Recorded(ctx):
            await asyncio.sleep(float(payload["seconds"]))
            raise RuntimeError("failed after sleeping")

    @app.task("fail_first")
    async def fail_first(payload: dict[str, Any], ctx: TaskContext) -> Any:
        """Fails the first time a payload's ``n`` runs (it leaves a mark next to the
        record file); afterwards (a replay) sleeps ``seconds`` and succeeds."""
        mark = Path(os.environ["XQT_RECORD"]).with_name(f"mark-{payload['n']}")
        with _Recorded(ctx):
            if not mark.exists():
                mark.touch()
                raise RuntimeError(f"first run of {payload['n']} fails on purpose")
            await asyncio.sleep(float(payload.get("seconds", 0)))
        return payload["n"]

    @app.task("gather")
    async def gather(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        """A fan-in: records how many parents' results it got (None: missing)."""
        results = list(ctx.parents.values())
        missing = sum(r is None for r in results)
        with _Recorded(ctx, parents=len(results), missing=missing):
            pass
        return {"parents": len(results), "missing": missing}

    return app


def proc_spin(payload: dict[str, Any], ctx: TaskContext) -> None:
    """Runs in a child process (module level so it pickles): spins on the CPU."""
    with _Recorded(ctx):
        end = time.monotonic() + float(payload["seconds"])
        while time.monotonic() < end:
            pass


app = make_app()
