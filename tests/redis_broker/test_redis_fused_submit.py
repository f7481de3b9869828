"""Redis store + Redis Streams broker on one server: a submit creates and publishes in
one script call (no fallback entry, no mark_queued), and still runs every task once."""

from __future__ import annotations

import time
from typing import Any

import redis

from tests.redis_broker.rb_app import make_app
from xqueue_core import TaskEvent, XQueue, hookimpl
from xqueue_core.interfaces import PublishingStore


def stream_entries(url: str, app: XQueue) -> int:
    broker, _ = app.backends()
    client = redis.Redis.from_url(url.split("?")[0])
    return sum(client.xlen(key) for key in broker.layout.streams)  # type: ignore[attr-defined]


def publish_fallbacks(url: str, app: XQueue) -> int:
    _, store = app.backends()
    client = redis.Redis.from_url(url.split("?")[0])
    return int(client.zcard(f"{store.keys.base}pub"))  # type: ignore[attr-defined]


async def test_submit_is_one_step_and_every_task_runs(client: XQueue, redis_url: str) -> None:
    broker, store = client.backends()
    assert isinstance(store, PublishingStore) and store.publishes_for(broker)
    tasks = await client.submit_many([{"type": "fast", "payload": {"seconds": 0}}] * 20)
    again = await client.submit("fast", {"seconds": 0}, idempotency_key="once")
    same = await client.submit("fast", {"seconds": 0}, idempotency_key="once")
    assert same.id == again.id
    later = await client.submit("fast", {"seconds": 0}, eta=time.time() + 3600)
    # 21 messages (the repeated key made none), no fallback entry but the delayed task's
    assert stream_entries(redis_url, client) == 21
    assert publish_fallbacks(redis_url, client) == 1
    async with client.worker(concurrency=10):
        for task in [*tasks, again]:
            done = await client.wait(task.id, timeout=20)
            assert done.status == "success"
    assert (await client.get(later.id)).status == "pending"


async def test_with_a_listener_the_pending_event_still_leaves_first(redis_url: str) -> None:
    order: list[str] = []

    class Listener:
        @hookimpl
        def xqueue_task_event(self, event: TaskEvent) -> None:
            order.append(str(event.status))

    app = make_app("rb-listened", broker=redis_url, store=redis_url, plugins=[Listener()])
    async with app:
        await app.submit("fast", {"seconds": 0})
        # two steps: a fallback entry until mark_queued (off the submit path) removes it
        entries: dict[str, Any] = {"messages": stream_entries(redis_url, app)}
    assert order == ["pending"] and entries["messages"] == 1
