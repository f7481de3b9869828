"""Fault tests with real worker processes on Kafka and the embedded store (DESIGN §4).

Workers run ``kafka_worker.py``; the test process submits and observes through
an app that never joins the worker group.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import xqueue_kafka.plugin

from tests.kafka.kafka_procs import Workers
from tests.kafka.kafka_services import make_url
from xqueue_core import XQueue
from xqueue_core.models import TERMINAL, TaskStatus
from xqueue_core.testing.services import eventually

pytestmark = pytest.mark.slow


@asynccontextmanager
async def submitter(broker: str, store: str) -> AsyncIterator[XQueue]:
    """An app with the workers' task types registered, to submit and observe."""
    app = XQueue(broker=broker, store=store, autoload_plugins=False, plugins=[xqueue_kafka.plugin])
    for task_type in ("work", "A", "B"):
        app.task(task_type)(lambda payload: None)
    async with app:
        yield app


async def count_status(app: XQueue, status: str, task_type: str | None = None) -> int:
    stats = await app.stats()
    if task_type is None:
        return int(stats["by_status"].get(status, 0))
    ids = await ids_with_status(app, TaskStatus(status))
    tasks = [await app.get(i) for i in ids]
    return sum(t.type == task_type for t in tasks)


async def ids_with_status(app: XQueue, status: TaskStatus) -> set[str]:
    assert app.store is not None
    found: set[str] = set()
    cursor = None
    while True:
        page = await app.store.list_tasks(status=status, limit=1000, cursor=cursor)
        found.update(t.id for t in page.tasks)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


async def terminal_events(app: XQueue) -> Counter[str]:
    """How many terminal events the store's event log holds per task."""
    assert app.store is not None
    found: Counter[str] = Counter()
    cursor = "0"
    while True:
        batch = await app.store.read_events(cursor, 5000, 0)
        if not batch:
            return found
        cursor = batch[-1][0]
        for _, event in batch:
            if event.kind == "status" and event.status in TERMINAL:
                found[event.task_id] += 1


async def all_succeeded(app: XQueue, count: int) -> bool:
    return await count_status(app, "success") == count


async def test_kill_9_with_100_in_flight_loses_nothing(
    kafka_servers: str, sqlite_url: str, tmp_path: Path
) -> None:
    broker = make_url(kafka_servers)
    workers = Workers(tmp_path, broker, sqlite_url, XQ_CONCURRENCY="100", XQ_LEASE="2")
    rng = random.Random(5)
    try:
        async with submitter(broker, sqlite_url) as app:
            [doomed] = workers.start(1)
            tasks = await app.submit_many(
                [{"type": "work", "payload": {"sleep": rng.uniform(0.3, 1.2)}} for _ in range(500)]
            )

            async def busy() -> bool:
                assert app.store is not None
                running = (await app.store.running()).get("work", 0)
                return running == 100 and await count_status(app, "success") >= 100

            await eventually(busy, 30, "100 finished and 100 in flight")
            workers.kill(doomed)
            finished_before = await ids_with_status(app, TaskStatus.SUCCESS)
            in_flight = {r.task_id for r in workers.runs() if r.event == "start"} - finished_before
            assert len(finished_before) >= 100 and len(in_flight) >= 90
            workers.start(1)
            await eventually(lambda: all_succeeded(app, 500), 60, "every task to succeed")
            assert await terminal_events(app) == Counter({t.id: 1 for t in tasks})
    finally:
        workers.stop()
    starts = workers.count("start")
    assert set(starts) == {t.id for t in tasks}
    rerun = {task_id for task_id, n in starts.items() if n > 1}
    assert not rerun & finished_before, "a finished task's handler ran again"
    assert rerun <= in_flight and rerun, "only the runs killed mid-way run again"


async def test_workers_joining_and_leaving_lose_nothing(
    kafka_servers: str, sqlite_url: str, tmp_path: Path
) -> None:
    broker = make_url(kafka_servers, "partitions=6")
    workers = Workers(tmp_path, broker, sqlite_url, XQ_CONCURRENCY="10")
    try:
        async with submitter(broker, sqlite_url) as app:
            first, _ = workers.start(2)
            tasks = await app.submit_many(
                [{"type": "work", "payload": {"sleep": 0.1}} for _ in range(900)]
            )
            await eventually(lambda: _done_at_least(app, 150), 30, "a first share done")
            [third] = workers.start(1)  # joins mid-run: a rebalance
            await eventually(lambda: _done_at_least(app, 550), 30, "most of the work done")
            workers.terminate(first)  # leaves mid-run, gracefully: another rebalance
            await eventually(lambda: all_succeeded(app, 900), 60, "every task to succeed")
            assert await terminal_events(app) == Counter({t.id: 1 for t in tasks})
    finally:
        workers.stop()
    starts = workers.count("start")
    assert starts == Counter({t.id: 1 for t in tasks}), "a task ran twice or never"
    assert any(r.pid == third.pid for r in workers.runs()), "the joining worker got no work"


async def _done_at_least(app: XQueue, count: int) -> bool:
    return await count_status(app, "success") >= count


async def test_a_saturated_type_does_not_block_others_in_its_partition(
    kafka_servers: str, sqlite_url: str, tmp_path: Path
) -> None:
    broker = make_url(kafka_servers, "partitions=1")
    workers = Workers(tmp_path, broker, sqlite_url, XQ_CONCURRENCY="10")
    try:
        async with submitter(broker, sqlite_url) as app:
            await app.set_concurrency("A", 1)
            await app.submit_many([{"type": "A", "payload": {"sleep": 0.1}}] * 200)
            await app.submit_many([{"type": "B", "payload": {}}] * 200)
            workers.start(1)  # the whole backlog sits in one partition, A ahead of B

            async def b_done() -> bool:
                return await count_status(app, "success", "B") == 200

            await eventually(b_done, 60, "every B task to succeed")
            a_done = await count_status(app, "success", "A")
    finally:
        workers.stop()
    assert a_done < 100, f"B waited behind A: {a_done} of 200 A tasks were done first"
    running = best = 0
    for run in workers.runs():
        if run.type == "A":
            running += 1 if run.event == "start" else -1
            best = max(best, running)
    assert best == 1, "more than one A task ran at once"


async def test_priority_backlog_high_first_low_progresses(
    kafka_servers: str, sqlite_url: str, tmp_path: Path
) -> None:
    broker = make_url(kafka_servers)
    workers = Workers(tmp_path, broker, sqlite_url, XQ_CONCURRENCY="4")
    try:
        async with submitter(broker, sqlite_url) as app:
            low = await app.submit_many([{"type": "work", "priority": -5}] * 200)
            high = await app.submit_many([{"type": "work", "priority": 5}] * 200)
            workers.start(1)
            await eventually(lambda: all_succeeded(app, 400), 60, "the backlog to drain")
    finally:
        workers.stop()
    high_ids = {t.id for t in high}
    order = ["H" if r.task_id in high_ids else "l" for r in workers.runs() if r.event == "done"]
    assert len(order) == len(low) + len(high)
    low_before_last_high = order[: "".join(order).rindex("H")].count("l")
    assert low_before_last_high < 200 / 2, "".join(order)  # high drained first ...
    assert low_before_last_high > 0, "".join(order)  # ... while low still progressed
