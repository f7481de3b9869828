"""The handlers: one async, one sync on a thread, one sync in a killable child process.

Every payload field has a default, so ``xqueue demo`` (which sends the same
payload to every registered type) runs them too. All three are idempotent:
running one twice with the same payload gives the same result and touches
nothing outside, which is what at-least-once execution asks of handlers.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import Counter
from typing import Any

from xqueue_core import TaskContext

TASK_TYPES = ("example.resize", "example.checksum", "example.wordcount")
ALGORITHMS = ("md5", "sha1", "sha256", "sha512")


async def resize(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Pretend to resize an image: scale ``width`` x ``height`` by ``scale``, in steps.

    Async, so it runs on the worker's event loop; ``await`` points let other
    tasks run and let a cancel or process timeout stop it.
    """
    width = int(payload.get("width", 640))
    height = int(payload.get("height", 480))
    scale = float(payload.get("scale", 0.5))
    if width <= 0 or height <= 0 or scale <= 0:
        raise ValueError(
            f"width, height and scale must be positive, got {width}, {height}, {scale}"
        )
    steps = 4
    for step in range(steps):
        await asyncio.sleep(float(payload.get("step_seconds", 0.01)))
        ctx.progress((step + 1) / steps)
    return {"width": round(width * scale), "height": round(height * scale)}


def checksum(payload: dict[str, Any]) -> dict[str, str]:
    """Hash ``text`` with ``algorithm`` (default sha256).

    A plain function without a context parameter: it runs on a thread of its
    own, never on the event loop.
    """
    algorithm = str(payload.get("algorithm", "sha256"))
    if algorithm not in ALGORITHMS:
        # Raised errors fail the attempt; the message becomes the task's error.
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    text = str(payload.get("text", ""))
    digest = hashlib.new(algorithm, text.encode()).hexdigest()
    return {"algorithm": algorithm, "digest": digest}


def word_count(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Count the words of ``text`` (repeated ``repeat`` times); return the ``top`` most common.

    Registered with ``executor="process"``: CPU-bound work runs in a child
    process, which is killed if the task is cancelled or passes its process
    timeout. It must be a module-level function so the child can import it.
    """
    text = str(payload.get("text", ""))
    repeat = int(payload.get("repeat", 1))
    top = int(payload.get("top", 3))
    counts: Counter[str] = Counter()
    for index in range(repeat):
        counts.update(re.findall(r"[a-z']+", text.lower()))
        if repeat > 1 and index % 100 == 0:
            ctx.progress(index / repeat)
    return {"words": sum(counts.values()), "top": counts.most_common(top)}
