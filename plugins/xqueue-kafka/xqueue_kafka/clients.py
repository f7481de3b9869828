"""Building aiokafka clients from :class:`KafkaSettings`: connection settings, topics, lag.

Only this module and :mod:`xqueue_kafka.broker` import aiokafka, and only when
a broker is created, so ``xqueue plugins`` works without a working driver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]
from aiokafka.helpers import create_ssl_context  # type: ignore[import-untyped]

from xqueue_core.errors import BackendError

from .options import KafkaSettings

TOPIC_EXISTS = 36
DRIVER_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError)


def connection_kwargs(o: KafkaSettings) -> dict[str, Any]:
    """Bootstrap servers, timeouts and security settings shared by every client."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": list(o.servers),
        "client_id": o.client_id,
        "request_timeout_ms": o.request_timeout_ms,
        "metadata_max_age_ms": o.metadata_max_age_ms,
        "security_protocol": o.security_protocol,
    }
    if o.security_protocol in ("SSL", "SASL_SSL"):
        context = create_ssl_context(
            cafile=o.ssl_cafile, certfile=o.ssl_certfile, keyfile=o.ssl_keyfile
        )
        context.check_hostname = o.ssl_check_hostname
        kwargs["ssl_context"] = context
    if o.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = o.sasl_mechanism
        kwargs["sasl_plain_username"] = o.sasl_username
        kwargs["sasl_plain_password"] = o.sasl_password
    return kwargs


def describe(exc: BaseException) -> str:
    """A one-line reason from a driver error."""
    name = type(exc).__name__
    # aiokafka errors often carry (long explanation, short reason): the last is the reason.
    text = str(exc.args[-1]) if exc.args else ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return f"{name}: {line}" if line else name


def unreachable(o: KafkaSettings, exc: BaseException) -> BackendError:
    reason = "" if "bootstrap" in str(exc) else f": {describe(exc)}"
    return BackendError(
        f"kafka broker unreachable at {o.bootstrap}{reason} "
        "(check the kafka:// URL and that the broker is running)"
    )


async def ensure_topics(admin: Any, o: KafkaSettings) -> None:
    """Create the band topics that do not exist yet (idempotent, safe from many processes).

    Existing topics are left as they are (partitions, replication, configs), and
    nothing is created when all exist, so clusters that forbid CreateTopics work
    once an operator has made the topics.
    """
    existing = set(await admin.list_topics())
    missing = [t for t in o.topics if t not in existing]
    if not missing:
        return
    if not o.create_topics:
        raise BackendError(
            f"kafka: topic(s) {', '.join(missing)} do not exist on {o.bootstrap} and "
            "create_topics is off; create them or set create_topics=true"
        )
    configs = {}
    if o.min_insync_replicas is not None:
        configs["min.insync.replicas"] = str(o.min_insync_replicas)
    new = [NewTopic(t, o.partitions, o.replication, topic_configs=configs) for t in missing]
    response = await admin.create_topics(new, timeout_ms=o.request_timeout_ms)
    for topic, code, message in getattr(response, "topic_errors", []):
        if code not in (0, TOPIC_EXISTS):
            raise BackendError(
                f"kafka: cannot create topic {topic!r} with {o.partitions} partitions and "
                f"replication {o.replication} on {o.bootstrap}: {message or f'error {code}'}"
            )


async def partitions_of(admin: Any, o: KafkaSettings) -> list[Any]:
    """Every partition of the band topics that exist."""
    tps: list[Any] = []
    for info in await admin.describe_topics(list(o.topics)):
        if info.get("error_code", 0) != 0:
            continue
        tps.extend(TopicPartition(info["topic"], p["partition"]) for p in info["partitions"])
    return sorted(tps)


class LagReader:
    """Reads end offsets and the group's committed offsets, for :meth:`KafkaBroker.stats`.

    Uses its own group-less consumer, so reading stats never joins the group.
    """

    def __init__(self, o: KafkaSettings) -> None:
        self.options = o
        self._consumer: Any = None

    async def _client(self) -> Any:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                group_id=None,
                enable_auto_commit=False,
                fetch_max_wait_ms=10,
                max_partition_fetch_bytes=4096,
                **connection_kwargs(self.options),
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def end_offsets(self, tps: Sequence[Any]) -> dict[Any, int]:
        """One past the last record of each partition.

        ListOffsets alone is not enough: some Kafka-protocol brokers (Tansu)
        answer with the first offset of the last batch plus one. The high
        watermark of a fetch is always right, so fetch each partition's tail
        once and take the larger of the two.
        """
        consumer = await self._client()
        ends: dict[Any, int] = dict(await consumer.end_offsets(list(tps)))
        consumer.assign(list(tps))
        for tp in tps:
            consumer.seek(tp, max(ends.get(tp, 0) - 1, 0))
        loop = asyncio.get_running_loop()
        give_up = loop.time() + min(self.options.request_timeout_ms / 1000, 5.0)
        while loop.time() < give_up:
            if all(consumer.highwater(tp) is not None for tp in tps):
                break
            await consumer.getmany(*tps, timeout_ms=50)
        for tp in tps:
            high = consumer.highwater(tp)
            if high is not None:
                ends[tp] = max(ends.get(tp, 0), high)
        return ends

    async def lag(self, admin: Any, group: str) -> dict[str, Any]:
        """Per-partition lag of ``group`` over the band topics, and totals per band."""
        o = self.options
        tps = await partitions_of(admin, o)
        if not tps:
            return {"lag": {}, "lag_by_band": {}, "messages_waiting": 0}
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        consumer = await self._client()
        starts: dict[Any, int] = dict(await consumer.beginning_offsets(tps))
        ends = await self.end_offsets(tps)
        lag: dict[str, dict[str, int]] = {}
        by_band: dict[str, int] = {}
        for tp in tps:
            meta = committed.get(tp)
            position = meta.offset if meta is not None and meta.offset >= 0 else starts.get(tp, 0)
            behind = max(ends.get(tp, 0) - position, 0)
            lag.setdefault(tp.topic, {})[str(tp.partition)] = behind
            band = o.band_of_topic(tp.topic) or tp.topic
            by_band[band] = by_band.get(band, 0) + behind
        return {"lag": lag, "lag_by_band": by_band, "messages_waiting": sum(by_band.values())}

    async def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()


def new_admin(o: KafkaSettings) -> Any:
    return AIOKafkaAdminClient(**connection_kwargs(o))


def new_consumer(o: KafkaSettings) -> Any:
    """The worker group's consumer: manual commits, bounded prefetch, quick group timings."""
    return AIOKafkaConsumer(
        group_id=o.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=o.session_timeout_ms,
        heartbeat_interval_ms=o.heartbeat_interval_ms,
        rebalance_timeout_ms=o.rebalance_timeout_ms,
        max_poll_interval_ms=o.max_poll_interval_ms,
        max_partition_fetch_bytes=o.prefetch_bytes,
        fetch_max_bytes=max(o.prefetch_bytes * 4, 1 << 20),
        fetch_max_wait_ms=o.fetch_wait_ms,
        **connection_kwargs(o),
    )
