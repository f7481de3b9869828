"""Fault tests with real worker processes sharing one Redis store (DESIGN §4).

Workers run ``redis_worker.py`` with the embedded SQLite file as their broker
(same host) and the Redis store; handlers log each start to a file per
process and record how many run at once in Redis.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import xqueue_redis.plugin
from xqueue_redis import RedisStore

from tests.redis.redis_services import Observed, Workers, url_for
from xqueue_core import XQueue
from xqueue_core.models import TERMINAL, TaskStatus
from xqueue_core.testing.services import ServiceProcess, eventually

pytestmark = pytest.mark.slow


@asynccontextmanager
async def submitter(store: str, broker: str) -> AsyncIterator[XQueue]:
    """An app with the workers' task types registered, to submit and observe."""
    app = XQueue(store=store, broker=broker, autoload_plugins=False, plugins=[xqueue_redis.plugin])
    for task_type in ("work", "slow"):
        app.task(task_type)(lambda payload: None)
    async with app:
        yield app


async def statuses(app: XQueue) -> Counter[str]:
    stats = await app.stats()
    return Counter({k: v for k, v in stats["by_status"].items() if v})


async def terminal_events(store: Any) -> Counter[str]:
    """How many terminal events the event log holds per task."""
    found: Counter[str] = Counter()
    cursor = "0-0"
    while True:
        batch = await store.read_events(cursor, 5000, 0)
        if not batch:
            return found
        cursor = batch[-1][0]
        for _, event in batch:
            if event.kind == "status" and event.status in TERMINAL:
                found[event.task_id] += 1


@pytest.fixture
def broker_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'broker.db'}"


async def test_two_workers_run_each_of_1000_tasks_once(
    redis_server: ServiceProcess, tmp_path: Path, broker_url: str
) -> None:
    store_url = url_for(redis_server)
    workers = Workers(tmp_path, store_url, broker_url, XQ_CONCURRENCY="25")
    workers.start(2)
    try:
        async with submitter(store_url, broker_url) as app:
            tasks = await app.submit_many(
                [{"type": "work", "payload": {"i": i}} for i in range(1000)]
            )

            async def all_done() -> bool:
                return (await statuses(app)).get("success", 0) == 1000

            await eventually(all_done, 60, "1000 tasks to succeed")
            assert await statuses(app) == Counter({"success": 1000})
            assert await terminal_events(app.store) == Counter({t.id: 1 for t in tasks})
    finally:
        workers.stop()
    runs = workers.runs()
    assert set(runs) == {t.id for t in tasks}
    assert set(runs.values()) == {1}, "a task started more than once"
    assert len(set(workers.runs_by_pid().values())) == 2, "both workers should have competed"


async def test_kill_9_returns_tokens_and_tasks_after_the_lease(
    redis_server: ServiceProcess, tmp_path: Path, broker_url: str
) -> None:
    store_url = url_for(redis_server)
    workers = Workers(tmp_path, store_url, broker_url, XQ_LEASE="1.5", XQ_BEAT="0.25")
    try:
        async with submitter(store_url, broker_url) as app:
            await app.set_concurrency("slow", 2)
            [doomed] = workers.start(1)
            payload = {"sleep": 0.2, "slow_pid": doomed.pid, "slow_sleep": 600}
            tasks = await app.submit_many([{"type": "slow", "payload": payload}] * 4)

            async def holding_two() -> bool:
                return (await app.store.running()).get("slow") == 2 and len(workers.runs()) == 2

            await eventually(holding_two, 20, "the first worker to hold both tokens")
            held = set(workers.runs())
            [survivor] = workers.start(1)
            workers.kill(doomed)

            async def all_done() -> bool:
                return (await statuses(app)).get("success", 0) == 4

            await eventually(all_done, 30, "the survivor to run all four tasks")
            assert (await app.store.running()).get("slow", 0) == 0
            for task in tasks:
                got = await app.get(task.id)
                assert got.status == TaskStatus.SUCCESS
                assert got.redeliveries == (1 if task.id in held else 0)
                assert got.result == {"pid": survivor.pid}
    finally:
        workers.stop()


async def test_limit_holds_for_runs_three_times_the_lease(
    redis_server: ServiceProcess, tmp_path: Path, broker_url: str
) -> None:
    store_url = url_for(redis_server)
    observed = Observed(redis_server)
    workers = Workers(
        tmp_path,
        store_url,
        broker_url,
        observed.url,
        XQ_OBS_PREFIX=observed.prefix,
        XQ_LEASE="1.5",
        XQ_BEAT="0.25",
        XQ_CONCURRENCY="4",
    )
    try:
        async with submitter(store_url, broker_url) as app:
            await app.set_concurrency("slow", 2)
            workers.start(4)
            tasks = await app.submit_many([{"type": "slow", "payload": {"sleep": 4.5}}] * 4)

            async def all_done() -> bool:
                return (await statuses(app)).get("success", 0) == 4

            await eventually(all_done, 40, "four long tasks to succeed")
            assert await observed.max("slow") == 2
            for task in tasks:
                assert (await app.get(task.id)).redeliveries == 0
    finally:
        workers.stop()
    assert set(workers.runs().values()) == {1}


async def test_clock_skew_of_an_hour_changes_nothing(
    redis_server: ServiceProcess, tmp_path: Path
) -> None:
    # the Redis Streams broker: the sqlite file broker decides visibility on each
    # process's own clock, so a worker an hour behind would never see a message
    store_url = broker_url = url_for(redis_server)
    observed = Observed(redis_server)
    workers = Workers(
        tmp_path,
        store_url,
        broker_url,
        observed.url,
        XQ_OBS_PREFIX=observed.prefix,
        XQ_LEASE="1",
        XQ_BEAT="0.2",
        XQ_CONCURRENCY="2",
    )
    try:
        async with submitter(store_url, broker_url) as app:
            await app.set_concurrency("slow", 1)
            workers.start(1, XQ_SKEW="3600")
            workers.start(1, XQ_SKEW="-3600")
            tasks = await app.submit_many([{"type": "slow", "payload": {"sleep": 2.5}}] * 3)

            async def all_done() -> bool:
                return (await statuses(app)).get("success", 0) == 3

            await eventually(all_done, 40, "three tasks to succeed on skewed workers")
            assert await observed.max("slow") == 1
            # (that both clocks run tasks side by side: test_redis_flow.py, two hours apart)
            now = await app.store.now()
            for task in tasks:
                got = await app.get(task.id)
                assert got.redeliveries == 0
                assert got.started_at is not None and abs(got.started_at - now) < 60
            assert {t.name for t in await app.store.known_types()} >= {"slow", "work"}
            assert all(abs(t.last_seen - now) < 60 for t in await app.store.known_types())
    finally:
        workers.stop()
    assert set(workers.runs().values()) == {1}


async def test_redis_restart_with_aof_loses_nothing(
    durable_redis: ServiceProcess, tmp_path: Path, broker_url: str
) -> None:
    store_url = url_for(durable_redis)
    workers = Workers(tmp_path, store_url, broker_url, XQ_CONCURRENCY="10")
    procs = workers.start(2)
    try:
        async with submitter(store_url, broker_url) as app:
            tasks = await app.submit_many(
                [{"type": "work", "payload": {"sleep": 0.02}} for _ in range(400)]
            )
            await eventually(lambda: len(workers.runs("done")) >= 50, 30, "some tasks to run")
            durable_redis.restart()  # SIGKILL, then start again on the same port
            done_at_restart = len(workers.runs("done"))
            assert done_at_restart < 400, "the restart should come mid-run"

            async def all_done() -> bool:
                return (await statuses(app)).get("success", 0) == 400

            await eventually(all_done, 60, "every task to succeed after the restart")
            assert await statuses(app) == Counter({"success": 400})
            assert await terminal_events(app.store) == Counter({t.id: 1 for t in tasks})
        assert workers.alive() == [p.pid for p in procs], workers.logs()
        assert len(workers.runs("done")) > done_at_restart
    finally:
        workers.stop()


async def test_limit_change_takes_effect_within_a_second(
    redis_server: ServiceProcess, tmp_path: Path, broker_url: str
) -> None:
    store_url = url_for(redis_server)
    observed = Observed(redis_server)
    workers = Workers(
        tmp_path,
        store_url,
        broker_url,
        observed.url,
        XQ_OBS_PREFIX=observed.prefix,
        XQ_CONCURRENCY="5",
    )
    try:
        async with submitter(store_url, broker_url) as app:
            store = app.store
            assert isinstance(store, RedisStore)
            await app.set_concurrency("slow", 1)
            workers.start(2)
            await app.submit_many([{"type": "slow", "payload": {"sleep": 1.0}}] * 12)
            await eventually(lambda: observed.starts("slow"), 20, "the first start")
            await app.set_concurrency("slow", 4)

            async def four_running() -> bool:
                return (await store.running()).get("slow") == 4

            await eventually(four_running, 1.0, "the raised limit to be used within a second")
            await app.set_concurrency("slow", 1)
            lowered_at = await store.now()

            async def all_done() -> bool:
                return (await statuses(app)).get("success", 0) == 12

            await eventually(all_done, 40, "all tasks to succeed")
            starts = await observed.starts("slow")
            late = [
                starts[t.id]
                for t in (await app.list(type="slow", limit=100)).tasks
                if t.started_at is not None and t.started_at > lowered_at
            ]
            assert late, "some tasks should have started after the limit was lowered"
            assert set(late) == {1}, "a task started while others ran above the new limit"
            assert await observed.max("slow") == 4
    finally:
        workers.stop()
