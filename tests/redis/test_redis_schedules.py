"""Periodic schedules on the Redis store and Streams broker: two workers in this
process, and two worker processes with clocks two hours apart, fire each tick once
(Redis restarts: tests/processes/test_core_schedules.py)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
import xqueue_redis.plugin

from tests.redis.redis_services import Workers, url_for
from xqueue_core import XQueue
from xqueue_core.testing.services import ServiceProcess


def make(url: str, declare: bool = True) -> XQueue:
    app = XQueue(
        "sched", broker=url, store=url, autoload_plugins=False, plugins=[xqueue_redis.plugin]
    )

    @app.task("report")
    async def report(payload: dict[str, object]) -> dict[str, object]:
        return payload

    if declare:
        app.schedule("every-second", "report", every=1, catch_up="all")
    return app


async def test_two_workers_fire_each_tick_once_on_redis(redis_url: str) -> None:
    apps = [make(redis_url), make(redis_url)]
    workers = [a.worker(concurrency=4) for a in apps]
    for w in workers:
        await w.start()
    try:
        await asyncio.sleep(4.2)
    finally:
        for w in workers:
            await w.shutdown()
    client = make(redis_url)
    async with client:
        page = await client.list(type="report", limit=100)
        state = await client.get_schedule("every-second")
    ticks = Counter(t.scheduled_for for t in page.tasks if t.schedule == "every-second")
    assert len(ticks) >= 3 and set(ticks.values()) == {1}, ticks
    fired = sorted(ticks)
    assert fired == [fired[0] + i for i in range(len(fired))]
    assert state.last_run == fired[-1]
    assert {str(t.status) for t in page.tasks} <= {"success", "pending", "processing"}


@pytest.mark.slow
async def test_ticks_fire_once_on_workers_two_hours_apart(
    redis_server: ServiceProcess, tmp_path: Path
) -> None:
    """Two worker processes, one clock an hour ahead and one an hour behind, tick an
    every-second schedule for 8 s: the store's clock decides, so each tick fires once,
    none is missing, and every tick is within seconds of the store's now (not an hour
    off)."""
    url = url_for(redis_server)
    workers = Workers(tmp_path, url, url, XQ_CONCURRENCY="2")
    app = make(url, declare=False)
    try:
        async with app:
            workers.start(1, XQ_SKEW="3600")
            workers.start(1, XQ_SKEW="-3600")
            await asyncio.sleep(1.0)
            await app.add_schedule("skewed", "report", every=1, catch_up="all")
            began = await app.store.now()  # type: ignore[union-attr]
            await asyncio.sleep(8.0)
            await app.pause_schedule("skewed")
            ended = await app.store.now()  # type: ignore[union-attr]
            page = await app.list(type="report", limit=100)
    finally:
        workers.stop()
    ticks = Counter(t.scheduled_for for t in page.tasks if t.schedule == "skewed")
    assert set(ticks.values()) == {1}, ticks
    fired = sorted(t for t in ticks if t is not None)
    assert fired == [fired[0] + i for i in range(len(fired))] and len(fired) >= 6
    assert began - 1 <= fired[0] and fired[-1] <= ended + 1
