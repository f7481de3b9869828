"""RedisStore specifics of per-key limits (the contract is in ``KeyLimitContract``): what
its keys look like, what Redis runs per wake-up, the paths a contract cannot see, and the
limits held by worker processes whose clocks disagree."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import xqueue_redis.plugin
from xqueue_redis import RedisStore
from xqueue_redis.broker import RedisBroker

from tests.redis.redis_services import Observed, Workers, url_for
from xqueue_core import XQueue
from xqueue_core.ids import new_id
from xqueue_core.models import ClaimOutcome, Finish, FinishKind, KeyUsage, Task
from xqueue_core.settings import Settings
from xqueue_core.testing.services import ServiceProcess, eventually, redis_command
from xqueue_core.testing.workers import most_at_once

SETTINGS = Settings(publish_grace=0.0)


async def _new(store: RedisStore, *keys: str | None, type: str = "t") -> list[Task]:
    tasks = [Task(id=new_id(), type=type, key=k) for k in keys]
    await store.create(tasks, 60.0)
    await store.mark_queued([t.id for t in tasks])
    return tasks


async def _claim(store: RedisStore, tasks: list[Task], lease: float = 30.0) -> list[str]:
    claims, _ = await store.claim([t.id for t in tasks], "w1", lease)
    return [str(c.outcome) for c in claims]


async def _done(store: RedisStore, *tasks: Task) -> None:
    applied, _ = await store.finish([Finish(t.id, "w1", FinishKind.SUCCESS) for t in tasks])
    assert all(applied)


async def _due(store: RedisStore) -> list[str]:
    return [m.task_id for m in await store.take_due(100, 30.0)]


async def test_keyed_tasks_leave_no_key_behind(store: RedisStore, raw: Any) -> None:
    await store.set_limit("t", 1)
    await store.set_key_limit("t", None, 1)
    a1, a2, b1, none = await _new(store, "a", "a", "b", None)
    assert await _claim(store, [a1, a2, b1, none]) == ["started"] + ["deferred"] * 3
    base = store.keys.base
    assert await raw.zrange(f"{base}pb:t", 0, -1) == ["a"]  # at its limit
    assert await raw.zrange(f"{base}pk:t", 0, -1) == ["b"]  # held back by the type only
    assert await raw.zrange(f"{base}park:t", 0, -1) == [none.id]
    for _ in range(3):
        [running] = [
            t for t in (a1, a2, b1, none) if (await store.get(t.id)).status == "processing"
        ]  # type: ignore[union-attr]
        await _done(store, running)
        [woken] = await _due(store)
        assert await _claim(store, [t for t in (a2, b1, none) if t.id == woken]) == ["started"]
    await _done(
        store, *[t for t in (a2, b1, none) if (await store.get(t.id)).status == "processing"]
    )  # type: ignore[union-attr]
    await store.maintain(5)  # retention 0: every task is purged
    left = sorted([k async for k in raw.scan_iter(match=f"{base}*")])
    # the event log and the limits (settings, kept as the type's own limit is)
    assert left == sorted(
        [store.keys.events, store.keys.limits, f"{base}klimits", f"{base}klimits:t"]
    )


async def test_the_key_is_kept_when_the_store_publishes_itself(redis_url: str) -> None:
    store = RedisStore(redis_url, SETTINGS)
    broker = RedisBroker(redis_url, SETTINGS)
    await store.open()
    await broker.open()
    try:
        task = Task(id=new_id(), type="t", key="acme", priority=5)
        [(_, created)] = await store.create_and_publish([task], 10.0, broker)
        assert created
        assert (await store.get(task.id)).key == "acme"  # type: ignore[union-attr]
        [delivery] = await broker.fetch(1, 1.0)
        assert delivery.message.task_id == task.id
    finally:
        await broker.close()
        await store.close()


async def test_a_heartbeat_keeps_the_keys_slot(store: RedisStore) -> None:
    await store.set_key_limit("t", None, 1)
    first, second = await _new(store, "a", "a")
    assert await _claim(store, [first], lease=0.4) == ["started"]
    await asyncio.sleep(0.2)
    beat = await store.heartbeat("w1", [first.id], 5.0)
    assert not beat.lost
    await asyncio.sleep(0.4)  # past the first lease: the renewed one holds the key's slot
    assert await _claim(store, [second]) == ["deferred"]


async def test_one_finish_call_wakes_a_key_freed_after_one_with_nothing_to_wake(
    store: RedisStore,
) -> None:
    # the first finish finds nothing to wake; the second frees a key at its limit
    await store.set_key_limit("t", None, 1)
    other, a1, a2 = await _new(store, "other", "a", "a")
    assert await _claim(store, [other, a1, a2]) == ["started", "started", "deferred"]
    await _done(store, other, a1)
    assert await _due(store) == [a2.id]


async def test_tasks_without_a_key_take_their_turn_as_the_key_empty(store: RedisStore) -> None:
    await store.set_limit("t", 1)
    r0, k1 = await _new(store, None, None)
    assert await _claim(store, [r0, k1]) == ["started", "deferred"]
    await _done(store, r0)  # only tasks without a key are parked: '' is woken
    assert await _due(store) == [k1.id]
    assert await _claim(store, [k1]) == ["started"]
    b1, a1, k2 = await _new(store, "b", "a", None)
    assert await _claim(store, [b1, a1, k2]) == ["deferred"] * 3
    order = []
    running = k1
    for _ in range(3):
        await _done(store, running)
        [woken] = await _due(store)
        [claim], _ = await store.claim([woken], "w1", 30.0)
        assert claim.outcome == ClaimOutcome.STARTED and claim.task is not None
        running = claim.task
        order.append(running.key)
    assert order == ["a", "b", None]  # the next key after '' (woken last), wrapping


async def test_key_usage_lists_the_busiest_keys_with_their_limits(store: RedisStore) -> None:
    await store.set_limit("t", 4)
    await store.set_key_limit("t", "big", 3)
    tasks = await _new(store, "big", "big", "big", "big", "small", "z", "z", None)
    assert (
        await _claim(store, tasks) == ["started"] * 3 + ["deferred", "started"] + ["deferred"] * 3
    )
    assert await store.key_usage("t", 10) == [
        KeyUsage("big", 3, 1, 3),
        KeyUsage("small", 1, 0, None),
        KeyUsage("z", 0, 2, None),
    ]
    assert await store.key_usage("t", 1) == [KeyUsage("big", 3, 1, 3)]
    assert await store.key_usage("other", 5) == []
    assert (await store.running())["t"] == 4


async def test_a_key_left_among_those_at_their_limits_is_woken_by_upkeep(
    store: RedisStore, raw: Any
) -> None:
    # a safety net: were a key's wake-up ever missed, upkeep looks at it again
    await store.set_limit("t", 1)
    r0, a1 = await _new(store, None, "a")
    assert await _claim(store, [r0, a1]) == ["started", "deferred"]
    base = store.keys.base
    await raw.zrem(f"{base}pk:t", "a")  # as if it had been found at its limit
    await raw.zadd(f"{base}pb:t", {"a": 0})
    await _done(store, r0)
    assert await _due(store) == []
    await store.maintain(5)
    assert await _due(store) == [a1.id]


async def test_a_wake_up_skips_keys_at_their_limits_at_a_bounded_cost() -> None:
    """200 keys each at its limit with a task parked: a finish wakes the finished run's
    key without visiting the others (they wait in pb:{type}, not pk:{type})."""
    with ServiceProcess("redis", redis_command()) as server:
        store = RedisStore(url_for(server), SETTINGS)
        await store.open()
        client = aioredis.from_url(f"redis://127.0.0.1:{server.port}/0", decode_responses=True)
        try:
            await store.set_key_limit("t", None, 1)
            keys = [f"k{i:03}" for i in range(200)]
            first = await _new(store, *keys)
            assert await _claim(store, first) == ["started"] * 200
            second = await _new(store, *keys)
            assert await _claim(store, second) == ["deferred"] * 200
            await _done(store, first[0])  # loads the script
            await client.config_resetstat()
            await _done(store, first[117])
            stats = await client.info("commandstats")
            assert await _due(store) == [second[0].id, second[117].id]
        finally:
            await client.aclose()
            await store.close()
    calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}
    calls.pop("config|resetstat", None)
    assert calls.pop("evalsha") == 1
    assert sum(calls.values()) <= 30, calls


async def test_runs_are_counted_per_key_from_the_first_key_limit_on(
    store: RedisStore, raw: Any
) -> None:
    # without key limits runs keep no per-key token set; the first limit builds them
    # from the type's tokens, removing the last drops them
    a1, a2, a3 = await _new(store, "a", "a", "a")
    assert await _claim(store, [a1, a2]) == ["started", "started"]
    base = store.keys.base
    assert not await raw.exists(f"{base}runk:t/a")
    await store.set_key_limit("t", "a", 2)
    assert await _claim(store, [a3]) == ["deferred"]  # the two runs count
    await store.set_key_limit("t", "a", None)
    assert await _due(store) == [a3.id]  # no limit any more: woken
    assert not await raw.exists(f"{base}runk:t/a")
    await _done(store, a1)  # ended while the type had no key limits
    await store.set_key_limit("t", None, 2)
    assert await raw.zrange(f"{base}runk:t/a", 0, -1) == [a2.id]
    (a4,) = await _new(store, "a")
    assert await _claim(store, [a4]) == ["started"]
    assert await _claim(store, [a3]) == ["deferred"]


async def test_a_key_woken_up_to_its_limit_stays_among_the_keys_to_wake(
    store: RedisStore,
) -> None:
    # its woken task may never start (canceled before a worker claims it): the key must
    # not wait for a run of its own to end
    await store.set_limit("t", 1)
    await store.set_key_limit("t", None, 1)
    r0, a1, a2, b1 = await _new(store, None, "a", "a", "b")
    assert await _claim(store, [r0, a1, a2, b1]) == ["started"] + ["deferred"] * 3
    await store.set_limit("t", 5)  # room for all: one of a (its limit), one of b
    assert sorted(await _due(store)) == sorted([a1.id, b1.id])
    result, _ = await store.cancel(a1.id)
    assert result is not None and result.outcome == "canceled"
    await _done(store, r0)
    assert await _due(store) == [a2.id]


@pytest.mark.slow
async def test_key_and_type_limits_hold_on_workers_two_hours_apart(
    redis_server: ServiceProcess, tmp_path: Path
) -> None:
    """Two worker processes, one clock an hour ahead and one an hour behind, each running
    up to 2 tasks; runs of 1.5 s on a 1 s lease; per-key limit 1 under a type limit of 3.
    Never two runs of a key at once nor more than 3 in all, and 3 is reached (so both
    processes run tasks together); no lease is lost: every task runs once and succeeds
    without a redelivery. Measured twice: by the handlers (in Redis) and by the store's
    own start and completion times."""
    # the Redis Streams broker, not the sqlite file: that one hides each message from a
    # process whose clock is behind the publisher's (its visibility is the local clock)
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
    per_key = {"k0": 3, "k1": 3, "k2": 2, "k3": 3, "k4": 2}
    # interleaved, so the first claims meet several keys at once
    payloads = [
        {"tenant": key, "sleep": 1.5}
        for turn in range(3)
        for key, count in per_key.items()
        if turn < count
    ]
    app = XQueue(
        store=store_url, broker=broker_url, autoload_plugins=False, plugins=[xqueue_redis.plugin]
    )
    app.task("keyed", key="tenant")(lambda payload: None)
    try:
        async with app:
            await app.set_concurrency("keyed", 3)
            await app.set_concurrency("keyed", 1, per_key=True)
            workers.start(1, XQ_SKEW="3600")
            workers.start(1, XQ_SKEW="-3600")
            tasks = await app.submit_many([{"type": "keyed", "payload": p} for p in payloads])
            assert [t.key for t in tasks] == [p["tenant"] for p in payloads]

            async def all_done() -> bool:
                return bool((await app.stats())["by_status"].get("success", 0) == len(tasks))

            await eventually(all_done, 60, f"{len(tasks)} keyed tasks to succeed")
            assert await observed.key_max("keyed") == dict.fromkeys(per_key, 1)
            assert await observed.max("keyed") == 3
            now = await app.store.now()  # type: ignore[union-attr]
            done = [await app.get(t.id) for t in tasks]
            assert {str(t.status) for t in done} == {"success"}
            assert [t.redeliveries for t in done] == [0] * len(done)
            assert all(abs(t.started_at - now) < 60 for t in done)  # type: ignore[operator]
            for key in per_key:  # the store's own clock: one run of a key after another
                assert most_at_once([t for t in done if t.key == key]) == 1, key
            assert most_at_once(done) == 3
            # no key with a run or a parked task left: nothing leaked
            assert await app.key_usage("keyed", 10) == []
    finally:
        workers.stop()
        await observed.client.aclose()
    assert workers.runs() == Counter({t.id: 1 for t in tasks}), workers.logs()
    assert len(set(workers.runs_by_pid().values())) == 2
