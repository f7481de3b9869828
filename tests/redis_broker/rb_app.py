"""Handlers for the Redis broker's real-process tests (``xqueue worker rb_app:app``).

Each run appends ``start``/``end`` lines to the JSON-lines file ``$RB_RECORD``
(under an exclusive lock, so lines from several processes never interleave).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from typing import Any

import orjson

from xqueue_core import TaskContext, XQueue


def record(kind: str, **fields: Any) -> None:
    path = os.environ.get("RB_RECORD")
    if not path:
        return
    line = orjson.dumps({"kind": kind, "t": time.time(), "pid": os.getpid(), **fields})
    with open(path, "ab", buffering=0) as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line + b"\n")


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    try:
        with open(path, "rb") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)
            data = fh.read()
    except FileNotFoundError:
        return []
    return [orjson.loads(line) for line in data.splitlines() if line]


def make_app(name: str = "rb", **options: Any) -> XQueue:
    """An app with the test handlers; the tests' own clients use it too."""
    app = XQueue(name, **options)

    async def sleeper(payload: dict[str, Any], ctx: TaskContext) -> float:
        fields = {"task_id": ctx.task_id, "type": ctx.type, "priority": payload.get("p")}
        record("start", **fields)
        await asyncio.sleep(float(payload.get("seconds", 0)))
        record("end", **fields)
        return float(payload.get("seconds", 0))

    for task_type in ("sleep", "slow", "fast"):
        app.task(task_type)(sleeper)
    return app


app = make_app()
