"""Handlers for the Redis broker's real-process tests (``xqueue worker rb_app:app``).

Each run appends ``start``/``end`` lines to the JSON-lines file ``$RB_RECORD``
(under an exclusive lock, so lines from several processes never interleave).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from xqueue_core import TaskContext, XQueue
from xqueue_core.testing.workers import append_record


def record(kind: str, **fields: Any) -> None:
    append_record(os.environ.get("RB_RECORD"), kind, **fields)


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
