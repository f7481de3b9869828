"""Periodic schedules on the Redis store and Streams broker: each tick fires once,
with two workers in this process, with worker processes SIGKILLed while Redis
itself is SIGKILLed and restarted, and with worker clocks an hour apart."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
import xqueue_redis.plugin

from tests.redis.redis_services import Workers, url_for
from xqueue_core import XQueue
from xqueue_core.testing.services import ServiceProcess, eventually


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


@pytest.mark.slow
async def test_ticks_fire_once_across_worker_kills_and_store_restarts(
    durable_redis: ServiceProcess, tmp_path: Path
) -> None:
    """3 worker processes tick an every-second schedule (catch_up=all) for 20 s on a
    Redis with an AOF; a worker is SIGKILLed and replaced, and Redis itself is
    SIGKILLed and started again, twice: every tick from the first to the last fires
    exactly once (those due while Redis was down fire late, by catch-up) and every
    fired task runs."""
    url = url_for(durable_redis)
    workers = Workers(tmp_path, url, url, XQ_CONCURRENCY="4")
    procs = workers.start(3)
    app = make(url, declare=False)
    try:
        async with app:
            await app.add_schedule("tick", "work", every=1, catch_up="all", payload={"sleep": 0})
            began = time.time()
            for second, event in ((5, "kill"), (9, "restart"), (12, "kill"), (15, "restart")):
                await asyncio.sleep(max(0.0, began + second - time.time()))
                if event == "kill":
                    workers.kill(procs.pop(0))
                    procs += workers.start(1, wait=False)
                else:
                    durable_redis.restart()  # SIGKILL, then start again on the same port
            await asyncio.sleep(max(0.0, began + 20 - time.time()))
            await app.pause_schedule("tick")
            page = await app.list(type="work", limit=200)
            fired = [t for t in page.tasks if t.schedule == "tick"]
            ticks = Counter(t.scheduled_for for t in fired)
            assert set(ticks.values()) == {1}, [t for t, n in ticks.items() if n > 1]
            ordered = sorted(t for t in ticks if t is not None)
            assert ordered == [ordered[0] + i for i in range(len(ordered))]  # none missing
            assert len(ordered) >= 18, len(ordered)

            async def all_ran() -> bool:
                return {str((await app.get(t.id)).status) for t in fired} == {"success"}

            await eventually(all_ran, 60, "every fired task to run")
    finally:
        workers.stop()
