"""KafkaBroker against a real Kafka-protocol broker: delivery, priority, commits, rebalances."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from xqueue_kafka.broker import KafkaBroker

from tests.kafka.kafka_services import make_url, tansu
from xqueue_core.errors import BackendError
from xqueue_core.models import Delivery, Message
from xqueue_core.settings import Settings
from xqueue_core.testing.services import eventually, free_port

Factory = Callable[..., Any]


@pytest.fixture
async def brokers() -> AsyncIterator[Factory]:
    """Open KafkaBrokers for a URL; all are closed at the end of the test."""
    opened: list[KafkaBroker] = []

    async def make(url: str) -> KafkaBroker:
        broker = KafkaBroker(url, Settings())
        await broker.open()
        opened.append(broker)
        return broker

    yield make
    for broker in opened:
        await broker.close()


async def take(
    broker: KafkaBroker, count: int, batch: int = 10, ack: bool = True, timeout: float = 15.0
) -> list[Delivery]:
    """Fetch until ``count`` deliveries arrived (in batches of ``batch``)."""
    got: list[Delivery] = []

    async def more() -> bool:
        deliveries = await broker.fetch(min(batch, count - len(got)), 0.5)
        if ack:
            await broker.ack(deliveries)
        got.extend(deliveries)
        return len(got) >= count

    await eventually(more, timeout, f"{count} deliveries (got {len(got)})")
    return got


def messages(count: int, priority: int = 0, tag: str = "m") -> list[Message]:
    return [Message(f"{tag}{i:04d}", "job", priority) for i in range(count)]


async def test_roundtrip_keeps_every_field(brokers: Factory, kafka_url: str) -> None:
    producer = await brokers(kafka_url)
    sent = messages(5, 7, "h") + messages(5, 0, "n") + messages(5, -3, "l")
    await producer.publish(sent)
    assert producer._consumer is None  # publishing alone never joins the worker group
    consumer = await brokers(kafka_url)
    got = await take(consumer, len(sent))
    assert {d.message for d in got} == set(sent)
    assert len(got) == len(sent)
    stats = await consumer.stats()
    assert set(stats["lag"]) == set(consumer.options.topics)
    await eventually(lambda: consumer._tracker.to_commit() == {}, 5, "offsets committed")
    assert (await consumer.stats())["messages_waiting"] == 0


async def test_high_band_first_and_low_still_progresses(
    brokers: Factory, kafka_servers: str
) -> None:
    url = make_url(kafka_servers, "fairness=10")
    producer = await brokers(url)
    await producer.publish(messages(40, -5, "low") + messages(80, 5, "high"))
    consumer = await brokers(url)
    got = await take(consumer, 120, batch=4)
    bands = "".join("H" if d.message.priority > 0 else "l" for d in got)
    before = bands[: bands.rindex("H")].count("l")
    # The high backlog drains first: low gets about the fair fetches (every 10th,
    # of 4 messages: 8 while high drains), far from all of its 40 ...
    assert before <= 20, bands
    # ... and low is never starved: it progresses while high is still waiting.
    assert before >= 4, bands


async def test_commit_stops_at_lowest_unacknowledged(brokers: Factory, kafka_servers: str) -> None:
    url = make_url(kafka_servers, "partitions=1")
    producer = await brokers(url)
    sent = messages(10)
    await producer.publish(sent)
    first = await brokers(url)
    got = await take(first, 10, ack=False)
    assert [d.message.task_id for d in got] == [m.task_id for m in sent]
    await first.ack(got[:3] + got[4:])  # offset 3 is still running: out-of-order finishes
    await eventually(lambda: first._tracker.to_commit() == {}, 5, "offsets committed")
    await first.close()  # a crash after the commit: offset 3 and later come back

    second = await brokers(url)
    again = await take(second, 7)
    assert [d.message.task_id for d in again] == [m.task_id for m in sent[3:]]


async def test_unacknowledged_messages_go_to_the_next_consumer(
    brokers: Factory, kafka_url: str
) -> None:
    producer = await brokers(kafka_url)
    await producer.publish(messages(12))
    first = await brokers(kafka_url)
    await take(first, 12, ack=False)
    await first.close()
    second = await brokers(kafka_url)
    assert len(await take(second, 12)) == 12


@pytest.mark.parametrize("revoke_wait_ms", [4000, 0])
async def test_revocation_waits_for_in_flight_acks(
    brokers: Factory, kafka_servers: str, revoke_wait_ms: int
) -> None:
    url = make_url(kafka_servers, f"revoke_wait_ms={revoke_wait_ms}")
    producer = await brokers(url)
    old = messages(30, tag="old")
    await producer.publish(old)
    a = await brokers(url)
    held = await take(a, 30, ack=False)
    b = await brokers(url)
    seen: list[Delivery] = []

    async def consume(broker: KafkaBroker) -> None:
        while True:
            deliveries = await broker.fetch(10, 0.2)
            seen.extend(deliveries)
            await broker.ack(deliveries)

    b_task = asyncio.create_task(consume(b))  # b joins: a's partitions are revoked
    await eventually(lambda: a.revocations >= 1, 10, "a rebalance on the first consumer")
    await a.ack(held)  # the runs finish while the partitions are being handed over
    a_task = asyncio.create_task(consume(a))
    try:
        await eventually(
            lambda: a._tracker.active() and b._tracker.active(), 10, "partitions shared by a and b"
        )
        # 60 late messages reach every partition (spread at random over 3); order is kept
        # per partition, so once all arrived, any redelivery ahead of them did too.
        await producer.publish(messages(60, tag="late"))
        await eventually(
            lambda: sum(d.message.task_id.startswith("late") for d in seen) >= 60,
            10,
            "the late messages",
        )
    finally:
        for task in (a_task, b_task):
            task.cancel()
        await asyncio.gather(a_task, b_task, return_exceptions=True)
    again = {d.message.task_id for d in seen if d.message.task_id.startswith("old")}
    if revoke_wait_ms:
        assert again == set()  # acks made during the wait were committed before the handover
    else:
        assert again == {m.task_id for m in old}  # without the wait they are delivered again


async def test_stats_report_lag_per_partition(brokers: Factory, kafka_url: str) -> None:
    producer = await brokers(kafka_url)
    await producer.publish(messages(6, 3, "h") + messages(4, 0, "n"))
    stats = await producer.stats()
    assert stats["messages_waiting"] == 10
    assert stats["lag_by_band"] == {"high": 6, "normal": 4, "low": 0}
    high = stats["lag"][producer.options.topic("high")]
    assert sorted(high) == ["0", "1", "2"] and sum(high.values()) == 6
    consumer = await brokers(kafka_url)
    got = await take(consumer, 10, ack=False)
    await consumer.ack(got[:5])
    assert (await consumer.stats())["messages_in_flight"] == 5
    await consumer.ack(got[5:])

    async def drained() -> bool:
        return (await producer.stats())["messages_waiting"] == 0

    await eventually(drained, 5, "lag back to 0 after commits")


async def test_unreachable_broker_is_a_clear_error_at_open() -> None:
    port = free_port()
    broker = KafkaBroker(f"kafka://127.0.0.1:{port},127.0.0.1:{port}", Settings())
    with pytest.raises(BackendError) as info:
        await broker.open()
    assert f"kafka broker unreachable at 127.0.0.1:{port},127.0.0.1:{port}" in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(BackendError, match="not open"):
        await broker.publish(messages(1))
    await broker.close()


async def test_reconnects_when_the_broker_comes_back() -> None:
    with tansu() as service:
        url = make_url(f"127.0.0.1:{service.port}", "request_timeout_ms=1500")
        producer = KafkaBroker(url, Settings())
        consumer = KafkaBroker(url, Settings())
        await producer.open()
        await consumer.open()
        try:
            await producer.publish(messages(3, tag="before"))
            assert len(await take(consumer, 3)) == 3
            service.kill()
            with pytest.raises(BackendError, match=r"kafka publish to 127\.0\.0\.1:\d+ failed"):
                await producer.publish(messages(1, tag="down"))
            with pytest.raises(BackendError):
                await producer.ping()
            service.start()  # same port; in-memory Tansu comes back empty
            await eventually(lambda: _publishes(producer), 20, "publishing again")
            got = await take(consumer, 1, timeout=20)
            assert got[0].message.task_id.startswith("after")
            await producer.ping()
        finally:
            await producer.close()
            await consumer.close()


async def _publishes(broker: KafkaBroker) -> bool:
    try:
        await broker.publish([Message("after", "job", 0)])
    except BackendError:
        return False
    return True


async def test_topics_are_created_once_and_then_used_as_they_are(
    brokers: Factory, kafka_servers: str
) -> None:
    url = make_url(kafka_servers, "partitions=2&min_insync_replicas=1")
    first = await brokers(url)
    assert set(await first._admin.list_topics()) >= set(first.options.topics)
    again = await brokers(url.replace("partitions=2", "partitions=5"))
    lag = (await again.stats())["lag"]
    assert {topic: len(parts) for topic, parts in lag.items()} == dict.fromkeys(
        again.options.topics, 2
    )
    locked = KafkaBroker(make_url(kafka_servers, "create_topics=false"), Settings())
    with pytest.raises(BackendError, match=r"do not exist on .* and create_topics is off"):
        await locked.open()
    await brokers(url + "&create_topics=false")  # they exist: nothing to create


async def test_a_log_that_went_back_behind_the_group_is_read_from_its_start(
    brokers: Factory, kafka_url: str
) -> None:
    """Tansu answers a fetch past the end of a log with nothing (Apache Kafka with
    OFFSET_OUT_OF_RANGE): after the log lost its records (here: the topics are
    deleted and made again; in life: a broker without persistence restarted) the
    consumer must not wait for the new log to grow past its old position."""
    producer = await brokers(kafka_url)
    consumer = await brokers(kafka_url)
    await producer.publish(messages(60, tag="old"))
    assert len(await take(consumer, 60)) == 60
    await eventually(lambda: _nothing_to_commit(consumer), 10, "the commits")
    await producer._admin.delete_topics(list(producer.options.topics))
    producer._topics_ready = False  # the next publish makes them again
    await producer.publish(messages(10, tag="new"))
    got = await take(consumer, 10, timeout=20)
    assert sorted(d.message.task_id for d in got) == [m.task_id for m in messages(10, tag="new")]
    assert consumer.revocations == 0  # no rebalance did it: the consumer noticed itself


async def _nothing_to_commit(broker: KafkaBroker) -> bool:
    return not broker._tracker.to_commit()
