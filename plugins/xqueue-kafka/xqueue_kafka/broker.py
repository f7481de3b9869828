"""KafkaBroker: task messages on Kafka topics, one per priority band, consumed by a group."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import (  # type: ignore[import-untyped]
    AIOKafkaProducer,
    ConsumerRebalanceListener,
)
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]

from xqueue_core.errors import BackendError
from xqueue_core.interfaces import Broker
from xqueue_core.logs import get_logger
from xqueue_core.models import Delivery, Message
from xqueue_core.sections import redact_url
from xqueue_core.settings import Settings

from . import outage
from .clients import (
    DRIVER_ERRORS,
    LagReader,
    connection_kwargs,
    describe,
    ensure_topics,
    new_admin,
    new_consumer,
    unreachable,
)
from .offsets import Handle, OffsetTracker
from .options import BANDS, parse_settings

log = get_logger("xqueue.kafka")
CLOSE_TIMEOUT = 5.0  # seconds: a close never hangs longer on a broker that is gone
REWIND_CHECK = 1.0  # seconds between checks for partition logs that went back behind us


def encode(message: Message) -> bytes:
    return orjson.dumps({"id": message.task_id, "type": message.type, "priority": message.priority})


def spread(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """Any partition, at random (the producer's partitioner).

    Not by key: a message published again (handed back by a worker that does not run
    its type, or by the store after a failed publish) would land on the partition it
    came from, whose consumer may never run it. The task id stays the record key.
    """
    return random.choice(available or all_partitions)


def decode(value: bytes | None) -> Message | None:
    try:
        data = orjson.loads(value or b"")
        return Message(str(data["id"]), str(data["type"]), int(data.get("priority", 0)))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _leave_group_even_in_generation_zero(consumer: Any) -> None:
    """Make ``consumer.stop()`` send LeaveGroup when the group is in generation 0.

    Some brokers (Tansu) number the first generation 0, which aiokafka takes for
    "never joined" and so skips LeaveGroup: the others then wait a whole session
    timeout to get the partitions. LeaveGroup carries no generation, so
    claiming generation 1 on the way out is harmless.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is not None and getattr(coordinator, "generation", None) == 0:
        coordinator.generation = 1


def _past_log_end(consumer: Any, tp: Any) -> bool:
    """True when the consumer's position is beyond the partition's last known end.

    A healthy log only grows, so this means the broker lost records (a broker
    without persistence that restarted, an unclean leader election). Apache Kafka
    answers such a fetch with OFFSET_OUT_OF_RANGE and the consumer resets itself;
    some Kafka-protocol brokers (Tansu) answer with nothing, and the consumer
    would wait until the new log grows past the old position, skipping every
    record before it.
    """
    try:
        state = consumer._subscription.subscription.assignment.state_value(tp)
        high, position = state.highwater, state.position if state.has_valid_position else None
    except (AttributeError, KeyError, TypeError):
        return False
    return isinstance(high, int) and isinstance(position, int) and position > high


def _membership_lost(consumer: Any) -> bool:
    """True when aiokafka reset the member's generation (session lost, rejoin pending)."""
    coordinator = getattr(consumer, "_coordinator", None)
    generation = getattr(coordinator, "generation", 0)
    return isinstance(generation, int) and generation < 0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.broker._on_revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.broker._tracker.assign(assigned)
        log.debug("partitions assigned", partitions=sorted(map(str, assigned)))


class KafkaBroker(Broker):
    """Messages go to ``{prefix}.high|normal|low`` by priority, keyed by task id.

    Workers consume all three topics in one consumer group: the high band first,
    except that every ``fairness``-th fetch starts from a lower band (normal and
    low in turn), so no band starves. Offsets are committed per partition up to
    the lowest delivery not yet acknowledged. Processes that only submit never
    join the group: the consumer starts on the first :meth:`fetch`.
    """

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = redact_url(url)
        self.settings = settings
        self.options = parse_settings(url, settings)
        outage.install()
        self._admin: Any = None
        self._producer: Any = None
        self._consumer: Any = None
        self._lag: LagReader | None = None
        self._tracker = OffsetTracker()
        self._fetches = 0
        self._next_rewind_check = 0.0
        self._topics_ready = False
        self._commit_wanted = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._commit_task: asyncio.Task[None] | None = None
        self._consumer_lock = asyncio.Lock()
        self._producer_lock = asyncio.Lock()
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()  # failed producers being stopped
        self.revocations = 0  # rebalances that took partitions from this consumer

    # -- life -----------------------------------------------------------------

    async def open(self) -> None:
        """Connect, create the band topics if needed, start the producer."""
        if self._admin is not None:
            return
        o = self.options
        self._closed = False
        try:
            admin = new_admin(o)
            self._admin = admin
            await admin.start()
            await self._ensure_topics()
            await self._start_producer()
            outage.reachable()
        except BackendError:
            await self.close()
            raise
        except DRIVER_ERRORS as exc:
            await self.close()
            raise unreachable(o, exc) from None
        except (ValueError, RuntimeError, AssertionError) as exc:  # e.g. codec not installed
            await self.close()
            raise BackendError(f"kafka broker {self.url}: {describe(exc)}") from None

    async def _start_producer(self) -> Any:
        """The producer, started now if there is none (at open, or after one failed)."""
        async with self._producer_lock:
            if self._producer is not None:
                return self._producer
            o = self.options
            producer = AIOKafkaProducer(
                acks="all",
                linger_ms=o.linger_ms,
                max_batch_size=o.batch_bytes,
                compression_type=None if o.compression == "none" else o.compression,
                partitioner=spread,
                **connection_kwargs(o),
            )
            try:
                await producer.start()
            except BaseException:
                await self._quietly(producer.stop(), "producer")
                raise
            self._producer = producer
            return producer

    def _drop_producer(self, producer: Any) -> None:
        """Stop a producer whose publish failed; the next publish builds a new one.

        A producer can stay broken after the broker restarts (seen on Tansu, which
        comes back empty: every send failed with UnknownError for minutes while a new
        producer worked at once), so one is never trusted again after a failure.
        """
        if self._producer is producer:
            self._producer = None
        job = asyncio.create_task(self._quietly(producer.stop(), "failed producer"))
        self._closing.add(job)
        job.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Commit what is done, leave the group, flush and stop every client."""
        self._closed = True
        if self._commit_task is not None:
            self._commit_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._commit_task
            self._commit_task = None
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await self._commit(None, consumer, CLOSE_TIMEOUT)
            _leave_group_even_in_generation_zero(consumer)
            await self._quietly(consumer.stop(), "consumer")
            self._tracker.revoke(self._tracker.active())
        producer, self._producer = self._producer, None
        if producer is not None:
            await self._quietly(producer.stop(), "producer")
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        if self._lag is not None:
            await self._quietly(self._lag.close(), "stats consumer")
            self._lag = None
        admin, self._admin = self._admin, None
        if admin is not None:
            await self._quietly(admin.close(), "admin client")

    async def _quietly(self, closing: Any, what: str) -> None:
        try:
            await within(closing, min(self.options.request_timeout_ms / 1000, CLOSE_TIMEOUT))
        except DRIVER_ERRORS as exc:  # includes TimeoutError
            log.warning("closing kafka client failed", client=what, error=describe(exc))

    async def ping(self) -> None:
        admin = self._require(self._admin)
        try:
            await admin.list_topics()
        except DRIVER_ERRORS as exc:
            raise unreachable(self.options, exc) from None
        outage.reachable()

    def _require(self, client: Any) -> Any:
        if client is None:
            raise BackendError(f"kafka broker {self.url} is not open")
        return client

    async def _ensure_topics(self) -> None:
        if not self._topics_ready:
            await ensure_topics(self._require(self._admin), self.options)
            self._topics_ready = True

    # -- publishing -------------------------------------------------------------

    async def publish(self, messages: Sequence[Message]) -> None:
        """Send every message with ``acks=all``; return once all are acknowledged."""
        if not messages:
            return
        self._require(self._admin)
        o = self.options
        futures: list[asyncio.Future[Any]] = []
        error: BaseException | None = None
        producer = self._producer
        try:
            await self._ensure_topics()
            if producer is None:
                producer = await self._start_producer()
            for m in messages:
                topic = o.topic(o.band(m.priority))
                futures.append(await producer.send(topic, encode(m), key=m.task_id.encode()))
        except (KafkaError, OSError, TimeoutError, BackendError) as exc:
            error = exc
        results = await asyncio.gather(*futures, return_exceptions=True)
        error = error or next((r for r in results if isinstance(r, BaseException)), None)
        if error is not None:
            self._topics_ready = False  # after a broker restart the topics may be gone
            if producer is not None:
                self._drop_producer(producer)
            if isinstance(error, BackendError):
                raise error
            raise BackendError(
                f"kafka publish to {o.bootstrap} failed: {describe(error)}"
            ) from None
        outage.reachable()

    # -- consuming ----------------------------------------------------------------

    async def _ensure_consumer(self) -> Any:
        if self._consumer is not None:
            return self._consumer
        async with self._consumer_lock:
            if self._consumer is None:
                if self._closed:
                    raise BackendError(f"kafka broker {self.url} is closed")
                o = self.options
                consumer = None
                try:
                    await self._ensure_topics()
                    consumer = new_consumer(o)
                    await consumer.start()
                except DRIVER_ERRORS as exc:
                    if consumer is not None:
                        await self._quietly(consumer.stop(), "consumer")
                    raise unreachable(o, exc) from None
                consumer.subscribe(list(o.topics), listener=_Rebalance(self))
                self._consumer = consumer
                self._commit_task = asyncio.create_task(self._commit_loop(), name="xqueue-kafka")
        return self._consumer

    def _band_order(self) -> list[str]:
        """High first; every ``fairness``-th fetch starts from normal, then low, in turn."""
        self._fetches += 1
        fairness = self.options.fairness
        if self._fetches % fairness:
            return list(BANDS)
        start = 1 + (self._fetches // fairness - 1) % (len(BANDS) - 1)
        return [*BANDS[start:], *BANDS[:start]]

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        """Up to ``max_messages`` deliveries, higher bands first, waiting up to ``timeout``."""
        if max_messages < 1:
            return []
        consumer = await self._ensure_consumer()
        order = self._band_order()
        out: list[Delivery] = []
        try:
            await self._rewind_truncated(consumer)
            await self._take(consumer, order, max_messages, out)
            if out:
                outage.reachable()
            if out or timeout <= 0:
                return out
            # Nothing buffered: wait for the first record anywhere, then take the
            # rest in band order, so a burst after idle still starts with high.
            got = await consumer.getmany(timeout_ms=int(timeout * 1000), max_records=1)
            out.extend(self._deliver(got))
            if out:
                outage.reachable()
                await self._take(consumer, order, max_messages, out)
            return out
        except DRIVER_ERRORS as exc:
            if out:
                return out
            raise BackendError(
                f"kafka fetch from {self.options.bootstrap} failed: {describe(exc)}"
            ) from None

    async def _rewind_truncated(self, consumer: Any) -> None:
        """Read again from the start any partition whose log is now shorter than our position.

        Its records are new ones (the old ones are gone), so tracking starts
        afresh too: the old commit point means nothing on the new log.
        """
        now = asyncio.get_running_loop().time()
        if now < self._next_rewind_check:
            return
        self._next_rewind_check = now + REWIND_CHECK
        behind = [tp for tp in self._tracker.active() if _past_log_end(consumer, tp)]
        if not behind:
            return
        log.warning(
            "kafka partition log is behind the group's position (the broker lost "
            "records?); reading it again from its beginning",
            partitions=sorted(map(str, behind)),
        )
        await within(consumer.seek_to_beginning(*behind), self.options.request_timeout_ms / 1000)
        self._tracker.assign(behind)

    async def _take(
        self, consumer: Any, order: list[str], max_messages: int, out: list[Delivery]
    ) -> None:
        """Append what the consumer has buffered, band by band, up to ``max_messages``."""
        by_band: dict[str, list[Any]] = {band: [] for band in BANDS}
        for tp in self._tracker.active():
            band = self.options.band_of_topic(tp.topic)
            if band is not None:
                by_band[band].append(tp)
        for band in order:
            if by_band[band] and len(out) < max_messages:
                got = await consumer.getmany(
                    *by_band[band], timeout_ms=0, max_records=max_messages - len(out)
                )
                out.extend(self._deliver(got))

    def _deliver(self, got: dict[Any, list[Any]]) -> list[Delivery]:
        out: list[Delivery] = []
        for tp, records in got.items():
            for record in records:
                handle = self._tracker.delivered(tp, record.offset)
                if handle is None:
                    continue  # revoked meanwhile: never committed, so the new owner gets it
                message = decode(record.value)
                if message is None:
                    log.warning(
                        "skipping a malformed message",
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=record.offset,
                    )
                    self._tracker.ack(handle)
                    continue
                out.append(Delivery(message, handle))
        return out

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Mark deliveries done; their offsets are committed soon, in order per partition."""
        moved = False
        for delivery in deliveries:
            handle = delivery.handle
            if isinstance(handle, Handle):
                moved = self._tracker.ack(handle) or moved
        if moved:
            self._commit_wanted.set()

    # -- commits and rebalancing -------------------------------------------------------

    async def _commit_loop(self) -> None:
        interval = self.options.commit_interval_ms / 1000
        while True:
            await self._commit_wanted.wait()
            await asyncio.sleep(interval)
            self._commit_wanted.clear()
            try:
                await self._commit(None, self._consumer)
            except Exception:  # never let commits stop for good
                log.exception("kafka commit loop failed")
                self._commit_wanted.set()

    async def _commit(
        self, tps: list[Any] | None, consumer: Any, timeout: float | None = None
    ) -> None:
        if consumer is None:
            return
        async with self._commit_lock:
            offsets = self._tracker.to_commit(tps)
            if not offsets:
                return
            if _membership_lost(consumer):
                # The session expired (e.g. the broker restarted): the partitions may
                # already be someone else's, and a commit now could even land on a
                # broker that lost its log and skip new records. Leave it to the owner.
                return
            try:
                limit = self.options.request_timeout_ms / 1000
                await within(consumer.commit(offsets), min(limit, timeout or limit))
            except DRIVER_ERRORS as exc:  # includes TimeoutError
                # Not fatal: uncommitted records are delivered again and the
                # store's compare-and-set makes the finished ones no-ops.
                log.info("kafka offset commit failed", error=describe(exc))
                self._commit_wanted.set()
                return
            self._tracker.committed(offsets)
            outage.reachable()

    async def _on_revoked(self, revoked: list[Any]) -> None:
        """Give in-flight work on these partitions a bounded time, commit, forget them."""
        if not revoked:
            return
        self.revocations += 1
        wait = self.options.revoke_wait_ms / 1000
        done = await self._tracker.wait_acked(revoked, wait)
        await self._commit(revoked, self._consumer)
        if not done:
            log.info(
                "partitions revoked with work in flight; it will be delivered again",
                in_flight=self._tracker.in_flight(revoked),
            )
        self._tracker.revoke(revoked)

    # -- stats -------------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        """Lag per partition of the worker group, totals per band, local in-flight count."""
        o = self.options
        admin = self._require(self._admin)
        if self._lag is None:
            self._lag = LagReader(o)
        try:
            lag = await self._lag.lag(admin, o.group)
        except DRIVER_ERRORS as exc:
            raise BackendError(f"kafka stats from {o.bootstrap} failed: {describe(exc)}") from None
        return {
            "brokers": o.bootstrap,
            "group": o.group,
            "topics": {band: o.topic(band) for band in BANDS},
            **lag,
            "messages_in_flight": self._tracker.in_flight(),
            "rebalances": self.revocations,
        }


async def within(awaitable: Any, seconds: float) -> Any:
    """``await awaitable``, raising TimeoutError after ``seconds``.

    Unlike ``asyncio.wait_for`` it does not wait for the cancelled call to finish:
    a client call that ignores cancellation (seen in aiokafka's close and commit when
    the broker stops answering) cannot hold us up for ever.
    """
    job = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({job}, timeout=seconds)
    except asyncio.CancelledError:
        job.cancel()
        job.add_done_callback(_consume_outcome)
        raise
    if not done:
        job.cancel()
        job.add_done_callback(_consume_outcome)
        raise TimeoutError(f"no answer within {seconds:g} s")
    return job.result()


def _consume_outcome(job: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned call's outcome, so asyncio does not log it as never read."""
    if not job.cancelled():
        job.exception()
