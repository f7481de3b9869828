"""The soak's task types (``xqueue worker soak.app:app``); every run is recorded.

Each handler appends ``start`` and ``end`` lines (JSON) to ``$SOAK_RECORD``
under an exclusive lock, so the file order is the real order across worker
processes. ``$SOAK_WORKER`` tags the lines with the worker that ran them.
Durations and failures come from the payload, so the driver decides them.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from typing import Any

import orjson

from xqueue_core import TaskContext, XQueue
from xqueue_core.hookspecs import hookimpl
from xqueue_core.models import TaskEvent

LIMITS = {"long": 4, "blocking": 2}  # fixed limits; "limited" changes during the run
TYPES = ("quick", "limited", "flaky", "slow", "long", "blocking")


def record(kind: str, **fields: Any) -> None:
    """Append one line to the record file (no-op without ``$SOAK_RECORD``)."""
    path = os.environ.get("SOAK_RECORD")
    if not path:
        return
    line = orjson.dumps({"kind": kind, "t": time.time(), **fields})
    with open(path, "ab", buffering=0) as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line + b"\n")


class Recorded:
    """``start`` on entry, ``end`` (with how it ended) on exit, however the run ends."""

    def __init__(self, ctx: TaskContext) -> None:
        self.fields = {
            "task_id": ctx.task_id,
            "type": ctx.type,
            "attempt": ctx.attempt,
            "worker": os.environ.get("SOAK_WORKER", "?"),
        }

    def __enter__(self) -> Recorded:
        record("start", **self.fields)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        outcome = "ok" if exc_type is None else exc_type.__name__
        record("end", **self.fields, outcome=outcome)


class EventRecorder:
    """Records every status event this process emits (``event`` lines), for the MQTT check.

    The hook runs in the process that made the change, before the notifiers get
    the event, so the record says which process was to publish what, and when.
    """

    def __init__(self, process: str) -> None:
        self.process = process

    @hookimpl
    def xqueue_task_event(self, event: TaskEvent) -> None:
        if event.kind != "status":
            return
        record(
            "event",
            task_id=event.task_id,
            status=str(event.status),
            retry=event.retry,
            proc=self.process,
        )


def make_app(process: str | None = None, **options: Any) -> XQueue:
    """The app with every soak type (the driver submits through the same app).

    With ``$SOAK_EVENTS`` set, every status event the process emits is recorded
    too, tagged with ``process`` (default: ``$SOAK_WORKER``).
    """
    if os.environ.get("SOAK_EVENTS"):
        tag = process or os.environ.get("SOAK_WORKER", "?")
        options["plugins"] = [*options.get("plugins", ()), EventRecorder(tag)]
    app = XQueue("soak", **options)

    async def sleeper(payload: dict[str, Any], ctx: TaskContext) -> None:
        with Recorded(ctx):
            await asyncio.sleep(float(payload.get("seconds", 0)))

    app.task("quick")(sleeper)
    app.task("limited")(sleeper)
    app.task("long")(sleeper)
    app.task("slow", process_timeout=0.5, max_retry=1, retry_backoff=0.2)(sleeper)

    @app.task("flaky", max_retry=2, retry_backoff=0.2)
    async def flaky(payload: dict[str, Any], ctx: TaskContext) -> int:
        with Recorded(ctx):
            await asyncio.sleep(0.005)
            if ctx.attempt <= int(payload.get("fail_attempts", 0)):
                raise RuntimeError(f"attempt {ctx.attempt} fails on purpose")
        return ctx.attempt

    @app.task("blocking")
    def blocking(payload: dict[str, Any], ctx: TaskContext) -> None:
        """A plain function on a thread: sleeps in steps and honours cancellation."""
        with Recorded(ctx):
            end = time.monotonic() + float(payload.get("seconds", 0))
            while time.monotonic() < end:
                ctx.check_cancelled()
                time.sleep(0.005)

    return app


app = make_app()
