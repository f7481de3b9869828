"""Periodic schedules on the Redis store and Streams broker: two workers in this
process tick an every-second schedule; each tick fires once."""

from __future__ import annotations

import asyncio
from collections import Counter

import xqueue_redis.plugin

from xqueue_core import XQueue


def make(url: str) -> XQueue:
    app = XQueue(
        "sched", broker=url, store=url, autoload_plugins=False, plugins=[xqueue_redis.plugin]
    )

    @app.task("report")
    async def report(payload: dict[str, object]) -> dict[str, object]:
        return payload

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
