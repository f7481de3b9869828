"""Periodic schedules with real processes (DESIGN §7.1): 3 workers and an API, exactly
one task per tick while workers are SIGKILLed and restarted, all of them are down for
3 s and (Redis) the store is SIGKILLed and restarted, on the embedded store and on
Redis."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.http.http_helpers import HttpServer
from tests.processes.core_helpers import Env
from xqueue_core import XQueue
from xqueue_core.testing.services import ServiceProcess, eventually, redis_command


@pytest.fixture(scope="module")
def redis_server() -> Iterator[ServiceProcess]:
    """This module's Redis keeps an AOF (fsync on every write): the test restarts it."""
    with ServiceProcess("redis-aof", redis_command(durable=True)) as server:
        yield server


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
async def test_every_tick_fires_once_across_kills_restarts_and_an_outage(
    request: pytest.FixtureRequest, xenv: Env, keyed: XQueue
) -> None:
    """3 worker processes tick an every-second schedule (catch_up=all) added over the
    REST API of a fourth process (``xqueue api``) for 30 s; a
    worker is SIGKILLed and replaced twice, on Redis the Redis server is SIGKILLed and
    started again twice, then all three workers are killed for 3 s and restarted: every
    tick from the first to the last has exactly one task, those of the outages
    included (fired late, by catch-up), and every one runs."""
    on_redis = xenv.vars["XQUEUE_LOAD_PLUGINS"] == "redis"
    redis: ServiceProcess | None = request.getfixturevalue("redis_server") if on_redis else None
    url = xenv.vars["XQUEUE_STORE"]
    plugins = "http,redis" if on_redis else "http"
    api = HttpServer(xenv.dir, "api", app=None, backend=url, env={"XQUEUE_LOAD_PLUGINS": plugins})
    workers = [xenv.worker("--concurrency", "4") for _ in range(3)]
    try:
        for w in workers:
            w.wait_started()
        api.start()
        with api.client() as rest:
            body = {"name": "tick", "type": "sleep", "every": 1, "catch_up": "all"}
            added = rest.post("/schedules", json={**body, "payload": {"seconds": 0}})
            assert added.status_code == 201, added.text
        began = time.time()
        events = [(6, "kill 0"), (12, "kill 1"), (18, "outage")]
        if redis is not None:
            events += [(9, "restart"), (15, "restart")]
        for second, event in sorted(events):
            await asyncio.sleep(max(0.0, began + second - time.time()))
            if event.startswith("kill"):
                victim = int(event.split()[1])
                workers[victim].kill_group()
                workers[victim] = xenv.worker("--concurrency", "4")
            elif event == "restart":
                assert redis is not None
                redis.restart()  # SIGKILL, then start again on the same port
            else:
                for w in workers:
                    w.kill_group()
                await asyncio.sleep(3.0)  # nobody ticks
                workers = [xenv.worker("--concurrency", "4") for _ in range(3)]
        await asyncio.sleep(max(0.0, began + 30 - time.time()))
        with api.client() as rest:
            paused = rest.patch("/schedules/tick", json={"enabled": False})
            assert paused.status_code == 200, paused.text
    finally:
        if api.proc is not None:
            api.stop()
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
