"""Periodic schedules with real worker processes (DESIGN §7.1): exactly one task per
tick while workers are SIGKILLed and restarted, on the embedded store and on Redis."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from tests.processes.core_helpers import Env
from xqueue_core import XQueue
from xqueue_core.testing.services import eventually


async def schedule_tasks(app: XQueue, name: str) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    cursor = None
    while True:
        page = await app.list(type="sleep", limit=200, cursor=cursor)
        out += [(t.scheduled_for, t.id) for t in page.tasks if t.schedule == name]  # type: ignore[misc]
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


@pytest.mark.slow
async def test_every_tick_fires_once_across_kills_and_an_outage(xenv: Env, keyed: XQueue) -> None:
    """3 worker processes tick an every-second schedule (catch_up=all) for 30 s; one
    is SIGKILLed and replaced twice, then all three are killed for 3 s and restarted:
    every tick from the first to the last has exactly one task, the outage's ticks
    included (fired late, by catch-up)."""
    workers = [xenv.worker("--concurrency", "4") for _ in range(3)]
    for w in workers:
        w.wait_started()
    await keyed.add_schedule("tick", "sleep", every=1, catch_up="all", payload={"seconds": 0})
    began = time.time()

    async def at(second: float) -> None:
        await asyncio.sleep(max(0.0, began + second - time.time()))

    for second, victim in ((6, 0), (12, 1)):
        await at(second)
        workers[victim].kill_group()
        workers[victim] = xenv.worker("--concurrency", "4")
    await at(18)
    for w in workers:
        w.kill_group()
    await asyncio.sleep(3.0)  # nobody ticks
    workers = [xenv.worker("--concurrency", "4") for _ in range(3)]
    await at(30)
    await keyed.pause_schedule("tick")
    fired = await schedule_tasks(keyed, "tick")
    counts = Counter(t for t, _ in fired)
    assert set(counts.values()) == {1}, [t for t, n in counts.items() if n > 1]
    ticks = sorted(counts)
    assert ticks == [ticks[0] + i for i in range(len(ticks))]  # no tick missing
    assert len(ticks) >= 27, len(ticks)

    async def all_ran() -> bool:
        statuses = [str((await keyed.get(i)).status) for _, i in fired]
        return set(statuses) == {"success"}

    await eventually(all_ran, 60, "every fired task to run")
