"""wait() on the Redis store: woken once by the task's end, not by the event log."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis
import xqueue_redis

from xqueue_core import TaskContext, XQueue
from xqueue_core.interfaces import TerminalWaitingStore
from xqueue_core.models import ClaimOutcome, Finish, FinishKind, TaskStatus
from xqueue_core.testing.services import eventually


def make_app(redis_url: str) -> XQueue:
    app = XQueue(
        "waits",
        broker=redis_url,
        store=redis_url,
        publish_grace=0.0,
        retry_backoff=0.01,
        autoload_plugins=False,
        plugins=[xqueue_redis.plugin],
    )

    @app.task("echo")
    async def echo(payload: dict[str, Any]) -> Any:
        await asyncio.sleep(float(payload.get("seconds", 0)))
        return payload.get("value")

    @app.task("flaky")
    async def flaky(payload: dict[str, Any], ctx: TaskContext) -> str:
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return "second"

    return app


async def test_waiters_get_the_final_record_once_it_ends(redis_url: str) -> None:
    app = make_app(redis_url)
    async with app:
        _, store = app.backends()
        assert isinstance(store, TerminalWaitingStore)

        async def no_event_log(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("wait() followed the event log")

        store.read_events = no_event_log  # type: ignore[method-assign]
        task = await app.submit("echo", {"seconds": 0.3, "value": [1, "two"]})
        async with app.worker(concurrency=2):
            waiters = [asyncio.create_task(app.wait(task.id, timeout=30)) for _ in range(3)]
            done = await asyncio.gather(*waiters)
            late = await app.wait(task.id, timeout=30)  # after the end: at once
        for got in [*done, late]:
            assert (got.status, got.result, got.progress) == (TaskStatus.SUCCESS, [1, "two"], 1.0)
        client = aioredis.Redis.from_url(redis_url.split("?")[0], decode_responses=True)
        try:
            key = store.keys.task(task.id)  # type: ignore[attr-defined]
            assert await client.hget(key, "waited") is None  # the mark goes with the end
            notice = store.keys.done(task.id)  # type: ignore[attr-defined]
            assert 0 < await client.ttl(notice) <= 60
        finally:
            await client.aclose()


async def test_a_waiter_stays_through_a_retry(redis_url: str) -> None:
    app = make_app(redis_url)
    async with app:
        task = await app.submit("flaky", {}, max_retry=1)
        waiter = asyncio.create_task(app.wait(task.id, timeout=30))
        _, store = app.backends()
        key = store.keys.task(task.id)  # type: ignore[attr-defined]
        client = aioredis.Redis.from_url(redis_url.split("?")[0], decode_responses=True)
        try:  # the waiter has read and marked the task before anything runs it
            await eventually(lambda: client.hexists(key, "waited"), 5, "the task marked")
        finally:
            await client.aclose()
        async with app.worker(concurrency=1):
            got = await waiter
    assert (got.status, got.retry, got.result) == (TaskStatus.SUCCESS, 1, "second")


async def test_a_wait_that_times_out_changes_nothing_but_the_mark(redis_url: str) -> None:
    app = make_app(redis_url)
    async with app:
        task = await app.submit("echo", {})
        with pytest.raises(TimeoutError, match=r"still pending after 0\.2s"):
            await app.wait(task.id, timeout=0.2)
        got = await app.get(task.id)
        assert (got.status, got.retry, got.worker_id) == (TaskStatus.PENDING, 0, None)


async def test_an_end_between_the_read_and_the_wait_is_not_missed(redis_url: str) -> None:
    app = make_app(redis_url)
    async with app:
        _, store = app.backends()
        assert isinstance(store, TerminalWaitingStore)
        task = await app.submit("echo", {})
        first = await store.wait_terminal(task.id, 0)  # reads it, marked as waited on
        assert first is not None and first.status == TaskStatus.PENDING
        # it ends after that read and before anyone blocks on the notice: the notice
        # is kept, and a wait reads the notice stream from its start
        (claim,), _ = await store.claim([task.id], "w1", 30.0)  # type: ignore[attr-defined]
        assert claim.outcome == ClaimOutcome.STARTED
        await store.finish([Finish(task.id, "w1", FinishKind.SUCCESS, None, 7, 0.0)])  # type: ignore[attr-defined]
        client = aioredis.Redis.from_url(redis_url.split("?")[0], decode_responses=True)
        try:
            notice = await client.xrange(store.keys.done(task.id))  # type: ignore[attr-defined]
        finally:
            await client.aclose()
        assert len(notice) == 1 and '"result":"7"' in notice[0][1]["task"]
        got = await store.wait_terminal(task.id, 5.0)
        assert got is not None and (got.status, got.result) == (TaskStatus.SUCCESS, 7)
        assert await store.wait_terminal("no-such-task", 0.1) is None
