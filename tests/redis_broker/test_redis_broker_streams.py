"""Redis Streams specifics: bands, reclaim after the lease, trimming, give-back, recovery."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from xqueue_redis.broker import RedisBroker
from xqueue_redis.broker_streams import GROUP, StreamLayout, layout_from
from xqueue_redis.keys import Keys

from tests.redis_broker.rb_app import make_app
from xqueue_core.errors import BackendError, SettingsError
from xqueue_core.ids import new_id
from xqueue_core.models import Message
from xqueue_core.settings import Settings, load_settings
from xqueue_core.testing.services import eventually, free_port

LEASE = 1.0


def settings(**changes: Any) -> Settings:
    base: dict[str, Any] = {"lease_ttl": LEASE, "heartbeat_interval": 0.1}
    return Settings().replace(**{**base, **changes})


@pytest.fixture
async def make(redis_url: str) -> AsyncIterator[Callable[..., Any]]:
    opened: list[RedisBroker] = []

    async def make_broker(**changes: Any) -> RedisBroker:
        broker = RedisBroker(redis_url, settings(**changes))
        await broker.open()
        opened.append(broker)
        return broker

    yield make_broker
    for broker in opened:
        await broker.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Any]:
    """A redis-py client of the tests' own on the brokers' database."""
    client = aioredis.from_url(redis_url.split("?")[0], decode_responses=True)  # no prefix
    yield client
    await client.aclose()


def messages(count: int, priority: int = 0) -> list[Message]:
    return [Message(new_id(), "t", priority) for _ in range(count)]


async def drain(broker: RedisBroker, want: int, timeout: float = 10.0) -> list[Any]:
    got: list[Any] = []
    give_up = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < give_up:
        got += await broker.fetch(want - len(got), 0.2)
    return got


def crash(broker: RedisBroker) -> None:
    """Stop touching held entries, as a killed process would (the connection stays)."""
    assert broker._keeper is not None
    broker._keeper.cancel()


# -- policy, settings, errors ---------------------------------------------------------


def test_bands_and_fair_band_order() -> None:
    layout = StreamLayout(Keys("p"), fairness=3)
    assert [layout.band(p) for p in (10, 1, 0, -1, -7)] == [
        "high", "high", "normal", "low", "low",
    ]  # fmt: skip
    orders = [layout.order(n) for n in range(1, 13)]
    assert orders[0] == ("high", "normal", "low")
    assert orders[2] == ("normal", "low", "high")
    assert orders[5] == ("low", "high", "normal")
    # every band leads at least once in any 2 × fairness consecutive fetches
    for start in range(len(orders) - 6):
        assert {o[0] for o in orders[start : start + 6]} == {"high", "normal", "low"}
    assert layout.stream("high") == "{p}:q:high"
    for priority in (10, 0, -7):  # what the publishing scripts get as KEYS[n]
        number = layout.stream_number(priority)
        assert layout.streams[number - 1] == layout.stream(layout.band(priority))


def test_thresholds_from_the_settings_table() -> None:
    layout = layout_from(
        settings(extras={"redis_broker": {"high_priority": 5, "low_priority": 0}}), Keys("p")
    )
    assert [layout.band(p) for p in (5, 4, 1, 0)] == ["high", "normal", "normal", "low"]


def test_thresholds_from_a_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "xqueue.toml"
    path.write_text("[xqueue]\nlease_ttl = 3\n\n[redis_broker]\nhigh_priority = 7\n")
    broker = RedisBroker("redis://h/0", load_settings(config_file=path, env={}))
    assert broker.layout.high_priority == 7 and broker.layout.lease_ttl == 3.0


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"colour": 1}, "unknown redis_broker setting 'colour'"),
        ({"high_priority": "five"}, "expected a whole number"),
        ({"high_priority": 0, "low_priority": 0}, "must be below 'high_priority'"),
    ],
)
def test_bad_settings_are_one_line_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        RedisBroker("redis://h/0", settings(extras={"redis_broker": table}))
    assert "\n" not in str(info.value)


def test_bad_url_is_a_one_line_error() -> None:
    with pytest.raises(SettingsError, match="unknown redis setting") as info:
        RedisBroker("redis://u:secret@h/0?colour=red", settings())
    assert "secret" not in str(info.value) and "\n" not in str(info.value)


async def test_unreachable_redis_is_a_backend_error() -> None:
    broker = RedisBroker(f"redis://127.0.0.1:{free_port()}/0?retries=0", settings())
    with pytest.raises(BackendError, match="cannot connect") as info:
        await broker.open()
    assert "\n" not in str(info.value)
    await broker.close()


# -- delivery ---------------------------------------------------------------------------


async def test_bands_and_stats(make: Callable[..., Any]) -> None:
    broker = await make()
    await broker.publish(messages(3, 5) + messages(2, 0) + messages(1, -3))
    stats = await broker.stats()
    assert {b: v["waiting"] for b, v in stats["bands"].items()} == {
        "high": 3, "normal": 2, "low": 1,
    }  # fmt: skip
    got = await drain(broker, 4)
    assert [d.message.priority for d in got] == [5, 5, 5, 0]
    stats = await broker.stats()
    assert stats["messages_in_flight"] == 4 and stats["messages_waiting"] == 2
    assert stats["bands"]["normal"] == {
        "stream": broker.layout.stream("normal"),
        "length": 2, "pending": 1, "waiting": 1, "lag": 1, "consumers": 1,
    }  # fmt: skip
    await broker.ack(got + await drain(broker, 2))
    assert (await broker.stats())["messages_in_flight"] == 0


async def test_acks_trim_from_the_head_and_never_drop_unacknowledged(
    make: Callable[..., Any], raw: Any
) -> None:
    broker = await make()
    key = broker.layout.stream("normal")
    await broker.publish(messages(10))
    got = await drain(broker, 6)
    await broker.ack(got[4:])  # entries 1-4 are still pending: nothing leaves yet
    assert await raw.xlen(key) == 10
    await broker.ack(got[:2])  # 1-2 leave; 5-6 stay behind 3-4, still pending
    assert await raw.xlen(key) == 8
    band = (await broker.stats())["bands"]["normal"]
    assert (band["length"], band["pending"], band["waiting"], band["lag"]) == (8, 2, 4, 4)
    # acknowledged behind the broker's back (no trim followed): upkeep trims them
    await raw.xack(key, GROUP, *(d.handle[1] for d in got[2:4]))
    assert await broker.maintain() == (4, 0)
    assert await raw.xlen(key) == 4
    assert await broker.maintain() == (0, 0)  # the 4 never delivered stay
    rest = await drain(broker, 4)
    assert len(rest) == 4
    await broker.ack(rest)
    assert await raw.xlen(key) == 0
    assert (await broker.stats())["bands"]["normal"]["lag"] == 0


async def test_more_than_asked_after_a_block_is_given_back(make: Callable[..., Any]) -> None:
    broker = await make()
    sent = messages(1, 5) + messages(1, 0) + messages(1, -5)
    await broker.publish(sent)
    got = await broker._block(1, 0.1)  # all three bands answer at once
    assert [d.message.task_id for d in got] == [sent[0].task_id]
    rest = await drain(broker, 2)
    assert sorted(d.message.task_id for d in rest) == sorted(m.task_id for m in sent[1:])
    await broker.ack(got + rest)
    assert (await broker.stats())["messages_in_flight"] == 0


async def test_lost_streams_and_group_are_recreated(make: Callable[..., Any], raw: Any) -> None:
    broker = await make()
    await broker.publish(messages(1))
    await broker.ack(await drain(broker, 1))
    await raw.delete(*broker.layout.streams)  # as after a restart without AOF
    assert await broker.fetch(1, 0.2) == []
    await raw.delete(*broker.layout.streams)
    await broker.publish(messages(2))
    got = await drain(broker, 2)
    assert len(got) == 2
    await broker.ack(got)


# -- dead and live consumers ----------------------------------------------------------------


async def test_a_dead_consumers_entries_are_reclaimed_after_the_lease(
    make: Callable[..., Any],
) -> None:
    dead, live = await make(), await make()
    await dead.publish(messages(3))
    held = await drain(dead, 3)
    crash(dead)
    crashed_at = time.monotonic()
    again: list[Any] = []

    async def reclaimed() -> bool:
        again.extend(await live.fetch(3, 0.1))
        return len(again) == 3

    await eventually(reclaimed, LEASE + 5, "the dead consumer's entries to be reclaimed")
    waited = time.monotonic() - crashed_at
    assert waited >= LEASE - dead.layout.touch_every
    assert {d.message.task_id for d in again} == {d.message.task_id for d in held}
    await live.ack(again)
    assert await dead.touch() == 0  # the dead one's view of them is gone


async def test_a_live_consumer_keeps_what_it_holds(make: Callable[..., Any]) -> None:
    holder, other = await make(), await make()
    await holder.publish(messages(2))
    held = await drain(holder, 2)
    end = time.monotonic() + 3 * LEASE
    while time.monotonic() < end:
        assert await other.fetch(2, 0.2) == []
    assert await holder.touch() == 2
    await holder.ack(held)


async def test_closing_hands_unacknowledged_entries_over_at_once(
    make: Callable[..., Any], raw: Any
) -> None:
    leaving = await make(lease_ttl=60.0, heartbeat_interval=1.0)
    staying = await make(lease_ttl=60.0, heartbeat_interval=1.0)
    await leaving.publish(messages(2))
    held = await drain(leaving, 2)
    await leaving.close()
    again = await drain(staying, 2, timeout=5)  # far less than the 60 s lease
    assert {d.message.task_id for d in again} == {d.message.task_id for d in held}
    await staying.ack(again)
    groups = await raw.xinfo_consumers(staying.layout.stream("normal"), GROUP)
    assert leaving.consumer not in {c["name"] for c in groups}


async def test_a_reclaimed_message_of_a_finished_task_is_acked_without_a_rerun(
    redis_url: str,
) -> None:
    ran: list[str] = []
    app = make_app("rb-gone", broker=redis_url, store=redis_url, lease_ttl=LEASE)

    @app.task("count")
    async def count(payload: dict[str, Any]) -> None:
        ran.append(payload["n"])

    async with app:
        # a consumer that died held the message of a task canceled meanwhile ...
        ghost = RedisBroker(redis_url, settings())
        await ghost.open()
        canceled = await app.submit("count", {"n": "canceled"}, delay=60)
        await ghost.publish([Message(canceled.id, "count", 0)])
        assert len(await drain(ghost, 1)) == 1
        crash(ghost)
        await app.cancel(canceled.id)
        done = await app.submit("count", {"n": "done"})
        async with app.worker(concurrency=2):
            await app.wait(done.id, timeout=10)
            # ... and a duplicate message of a task that already succeeded comes late
            assert app.broker is not None
            await app.broker.publish([Message(done.id, "count", 0)])

            async def drained() -> bool:
                broker = (await app.stats())["broker"]
                return broker["messages_in_flight"] + broker["messages_waiting"] == 0

            await eventually(drained, LEASE + 10, "the stale messages to be acknowledged")
        await ghost.conn.close()
        assert ran == ["done"]
        assert str((await app.get(canceled.id)).status) == "canceled"
        assert str((await app.get(done.id)).status) == "success"


async def test_touch_forgets_entries_redis_lost(make: Callable[..., Any], raw: Any) -> None:
    broker = await make()
    await broker.publish(messages(2))
    held = await drain(broker, 2)
    assert await broker.touch() == 2
    await raw.delete(*broker.layout.streams)  # restart without persistence
    assert await broker.touch() == 0
    await broker.ack(held)  # acking what Redis no longer has is harmless


async def test_entries_that_are_not_messages_are_dropped(
    make: Callable[..., Any], raw: Any
) -> None:
    broker = await make()
    key = broker.layout.stream("normal")
    await raw.xadd(key, {"colour": "red"})
    await broker.publish(messages(1))
    await raw.xadd(key, {"id": "x", "type": "t", "priority": "high"})
    got = await drain(broker, 3, timeout=1)
    assert [d.message.priority for d in got] == [0, 0]  # a bad priority reads as 0
    await broker.ack(got)
    assert await raw.xlen(key) == 0
