"""RedisStore specifics of rate limits (the contract is in ``RateContract``): the keys a
rate leaves behind, and a rate held by worker processes whose clocks disagree."""

from __future__ import annotations

import asyncio
import bisect
from pathlib import Path
from typing import Any

import pytest
import xqueue_redis.plugin
from xqueue_redis import RedisStore

from tests.redis.redis_services import Workers, url_for
from xqueue_core import XQueue
from xqueue_core.ids import new_id
from xqueue_core.models import Finish, FinishKind, Task
from xqueue_core.rates import Rate
from xqueue_core.testing.services import ServiceProcess, eventually


async def test_a_rates_logs_expire_and_its_wake_ups_end(store: RedisStore, raw: Any) -> None:
    await store.set_rate("t", None, Rate(1, 0.2))
    await store.set_rate("t", "*", Rate(1, 0.2))
    tasks = [Task(id=new_id(), type="t", key=k) for k in ("a", "a", "b")]
    await store.create(tasks, 60.0)
    await store.mark_queued([t.id for t in tasks])
    claims, _ = await store.claim([t.id for t in tasks], "w1", 30.0)
    assert [str(c.outcome) for c in claims] == ["started", "deferred", "deferred"]
    base = store.keys.base
    assert await raw.zrange(f"{base}rw", 0, -1) == ["t"]  # take_due wakes the type
    left = [tasks[1], tasks[2]]
    while left:
        due = [m.task_id for m in await store.take_due(10, 30.0)]
        for task in [t for t in left if t.id in due]:
            [claim], _ = await store.claim([task.id], "w1", 30.0)
            assert str(claim.outcome) == "started"
            left.remove(task)
        await asyncio.sleep(0.02)
    await store.finish([Finish(t.id, "w1", FinishKind.SUCCESS) for t in tasks])
    await store.take_due(10, 30.0)  # nothing parked any more: the type leaves rw
    assert await raw.zcard(f"{base}rw") == 0
    for log in ("rl:t", "rlk:t/a", "rlk:t/b"):
        assert 0 < await raw.pttl(base + log) <= 1400, log  # a period, the horizon, 1 s
    await asyncio.sleep(1.5)
    await store.maintain(5)  # retention 0: the tasks are purged
    keys = sorted([k async for k in raw.scan_iter(match=f"{base}*")])
    assert keys == sorted([store.keys.events, f"{base}rates:t", f"{base}rated"])


@pytest.mark.slow
async def test_a_rate_holds_on_workers_two_hours_apart(
    redis_server: ServiceProcess, tmp_path: Path
) -> None:
    """Two worker processes, one clock an hour ahead and one an hour behind, share a
    rate of 4/s: the store's clock admits, so never more than 4 starts in any second
    of it, and the 24 tasks flow at the rate (neither process waits out its skew)."""
    url = url_for(redis_server)
    workers = Workers(tmp_path, url, url, XQ_CONCURRENCY="4")
    app = XQueue(store=url, broker=url, autoload_plugins=False, plugins=[xqueue_redis.plugin])
    app.task("keyed", key="tenant")(lambda payload: None)
    try:
        async with app:
            await app.set_rate("keyed", "4/s")
            workers.start(1, XQ_SKEW="3600")
            workers.start(1, XQ_SKEW="-3600")
            tasks = await app.submit_many(
                [
                    {"type": "keyed", "payload": {"tenant": f"k{i % 3}", "sleep": 0.05}}
                    for i in range(24)
                ]
            )

            async def all_done() -> bool:
                return bool((await app.stats())["by_status"].get("success", 0) == len(tasks))

            await eventually(all_done, 60, "24 rated tasks to succeed")
            done = [await app.get(t.id) for t in tasks]
            started = sorted(t.started_at for t in done)  # type: ignore[union-attr,type-var]
            busiest = max(bisect.bisect_left(started, s + 1.0) - i for i, s in enumerate(started))
            assert busiest == 4
            assert 5.0 <= started[-1] - started[0] < 8.0, started[-1] - started[0]
            assert {t.redeliveries for t in done} == {0}  # type: ignore[union-attr]
    finally:
        workers.stop()
