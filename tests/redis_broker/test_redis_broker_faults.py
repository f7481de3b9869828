"""Real worker processes on Redis (broker and store): kill -9, a Redis restart with AOF,
a saturated type beside a free one, priority with a backlog."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.redis_broker.rb_app import make_app
from tests.redis_broker.rb_helpers import Cluster, terminal_events, url_for
from xqueue_core import XQueue
from xqueue_core.testing.services import ServiceProcess, eventually

LEASE = 2.0  # XQUEUE_LEASE_TTL of the workers (Cluster default)
HEARTBEAT = 0.25


async def all_terminal(app: XQueue, ids: list[str]) -> bool:
    for task_id in ids:
        if not (await app.get(task_id)).terminal:
            return False
    return True


async def broker_empty(app: XQueue) -> bool:
    broker = (await app.stats())["broker"]
    return broker["messages_waiting"] == 0 and broker["messages_in_flight"] == 0


async def check_exactly_once(app: XQueue, ids: list[str]) -> None:
    """Every task succeeded, with exactly one terminal event in the store's log."""
    statuses = Counter([str((await app.get(i)).status) for i in ids])
    assert statuses == {"success": len(ids)}
    events = await terminal_events(app)
    assert {i: events.get(i) for i in ids} == {i: ["success"] for i in ids}


@pytest.mark.slow
async def test_kill_9_with_tasks_in_flight_each_ends_once_soon_after_the_lease(
    cluster: Cluster, client: XQueue
) -> None:
    victim = cluster.worker("--concurrency", "4").wait_started()
    tasks = await client.submit_many(
        [{"type": "sleep", "payload": {"seconds": 1.0}} for _ in range(12)]
    )
    ids = [t.id for t in tasks]
    await eventually(lambda: len(cluster.records("start")) >= 4, 20, "four runs to start")
    victim.kill9()
    killed_at = time.time()
    in_flight = {r["task_id"] for r in cluster.records("start")} - {
        r["task_id"] for r in cluster.records("end")
    }
    assert in_flight, "the victim finished everything before the kill"
    cluster.worker("--concurrency", "8").wait_started()

    await eventually(lambda: all_terminal(client, ids), LEASE + 15, "every task to finish")
    await check_exactly_once(client, ids)
    starts = cluster.records("start")
    reruns = [r for r in starts if r["task_id"] in in_flight and r["pid"] != victim.pid]
    assert {r["task_id"] for r in reruns} == in_flight
    # re-run only once the dead worker's lease ran out, not earlier
    assert min(r["t"] for r in reruns) >= killed_at + LEASE - HEARTBEAT - 0.2
    assert Counter(r["task_id"] for r in cluster.records("end")) == Counter(ids)
    await eventually(lambda: broker_empty(client), 10, "the dead worker's entries to be acked")


@pytest.mark.slow
async def test_redis_restart_with_aof_loses_nothing(
    tmp_path: Path, durable_redis: ServiceProcess
) -> None:
    url = url_for(durable_redis)
    cluster = Cluster(tmp_path, url)
    app = make_app("rb-aof", broker=url, store=url, lease_ttl=LEASE)
    try:
        for _ in range(2):
            cluster.worker("--concurrency", "4").wait_started()
        async with app:
            first = await app.submit_many(
                [{"type": "sleep", "payload": {"seconds": 0.1}} for _ in range(80)]
            )
            await eventually(lambda: len(cluster.records("end")) >= 10, 20, "some runs")
            durable_redis.restart()  # kill -9, then start again on the same port
            assert len(cluster.records("end")) < len(first), "all done before the restart"
            second = await app.submit_many(
                [{"type": "sleep", "payload": {"seconds": 0.05}} for _ in range(20)]
            )
            ids = [t.id for t in first + second]
            await eventually(lambda: all_terminal(app, ids), 60, "every task to finish")
            await check_exactly_once(app, ids)
            assert {r["task_id"] for r in cluster.records("end")} == set(ids)
            await eventually(lambda: broker_empty(app), 10, "the streams to drain")
        assert all(w.proc.poll() is None for w in cluster.workers), cluster.logs()
    finally:
        cluster.close()


@pytest.mark.slow
async def test_a_saturated_type_does_not_hold_back_another(
    cluster: Cluster, client: XQueue
) -> None:
    await client.set_concurrency("slow", 1)
    slow = await client.submit_many(
        [{"type": "slow", "payload": {"seconds": 0.8}} for _ in range(6)]
    )
    fast = await client.submit_many(
        [{"type": "fast", "payload": {"seconds": 0.01}} for _ in range(10)]
    )
    cluster.worker("--concurrency", "4").wait_started()
    await eventually(lambda: all_terminal(client, [t.id for t in fast]), 20, "the fast tasks")
    ends = [r["type"] for r in cluster.records("end")]
    last_fast = max(i for i, t in enumerate(ends) if t == "fast")
    assert ends[:last_fast].count("slow") <= 2, ends
    running = 0
    for r in cluster.records():
        if r["type"] == "slow":
            running += 1 if r["kind"] == "start" else -1
            assert running <= 1
    assert str((await client.get(slow[-1].id)).status) in ("pending", "processing", "success")


@pytest.mark.slow
async def test_priority_with_a_backlog_and_no_starvation(cluster: Cluster, client: XQueue) -> None:
    items = []
    for priority in (-5, 0, 10):
        items += [
            {"type": "sleep", "payload": {"seconds": 0.01, "p": priority}, "priority": priority}
            for _ in range(10)
        ]
    tasks = await client.submit_many(items)
    cluster.env["XQUEUE_PRIORITY_FAIRNESS"] = "5"
    cluster.worker("--concurrency", "1").wait_started()
    ids = [t.id for t in tasks]
    await eventually(lambda: all_terminal(client, ids), 30, "every task to finish")
    order = [r["priority"] for r in cluster.records("start")]
    assert len(order) == 30
    # high first; every 5th fetch starts from a lower band, normal and low in turn
    assert order[:12] == [10, 10, 10, 10, 0, 10, 10, 10, 10, -5, 10, 10], order
    assert sorted(order) == sorted(t.priority for t in tasks)
