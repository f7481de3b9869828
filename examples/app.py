"""The example app: run it with ``xqueue worker examples.app:app`` or ``xqueue demo``.

Task types:
- ``email``  async, quick, reports progress
- ``report`` async and slow (seconds from the payload), reports progress
- ``flaky``  fails on its first attempts, then succeeds (retries with backoff)
- ``broken`` always fails
- ``primes`` sync and CPU-bound; runs in a child process, killed at its timeout
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from xqueue_core import TaskContext, XQueue

app = XQueue("example")


@app.task("email", max_retry=3)
async def send_email(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    ctx.progress(0.5)
    await asyncio.sleep(0.01)
    return {"sent_to": payload.get("to", "nobody@example.com")}


@app.task("report", process_timeout=60)
async def build_report(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    seconds = float(payload.get("seconds", 1.0))
    steps = 10
    for step in range(steps):
        await asyncio.sleep(seconds / steps)
        ctx.progress((step + 1) / steps)
    return {"pages": steps}


@app.task("flaky", max_retry=3, retry_backoff=0.2)
async def flaky(payload: dict[str, Any], ctx: TaskContext) -> str:
    if ctx.attempt < int(payload.get("succeed_on", 2)):
        raise RuntimeError(f"attempt {ctx.attempt} failed on purpose")
    return f"succeeded on attempt {ctx.attempt}"


@app.task("broken")
async def broken(payload: dict[str, Any]) -> None:
    raise ValueError("this handler always fails")


@app.task("primes", executor="process", process_timeout=30)
def count_primes(payload: dict[str, Any], ctx: TaskContext) -> int:
    limit = int(payload.get("limit", 20_000))
    count = 0
    for n in range(2, limit):
        if all(n % d for d in range(2, math.isqrt(n) + 1)):
            count += 1
        if n % 5000 == 0:
            ctx.progress(n / limit)
    return count
