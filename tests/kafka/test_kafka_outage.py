"""A broker outage is one xqueue WARNING and one INFO, not aiokafka's stream of ERRORs;
the producer that failed meanwhile is replaced."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs
from xqueue_kafka import outage
from xqueue_kafka.broker import KafkaBroker

from tests.kafka.kafka_services import make_url, tansu
from xqueue_core.errors import BackendError
from xqueue_core.ids import new_id
from xqueue_core.models import Message
from xqueue_core.settings import Settings
from xqueue_core.testing.services import port_open, wait_until


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def driver_lines() -> Iterator[list[logging.LogRecord]]:
    """What aiokafka's loggers let through to the root logger."""
    handler = Collect()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def _publish(broker: KafkaBroker) -> bool:
    try:
        await broker.publish([Message(new_id(), "t", 0)])
        return True
    except BackendError:
        return False


async def test_an_outage_is_one_warning_then_one_info(
    driver_lines: list[logging.LogRecord],
) -> None:
    service = tansu().start()
    try:
        broker = KafkaBroker(make_url(f"127.0.0.1:{service.port}"), Settings())
        await broker.open()
        try:
            assert await _publish(broker)
            await broker.fetch(1, 1.0)  # the consumer joins: a coordinator to lose too
            outage.reachable()  # whatever an earlier test left behind
            producer = broker._producer
            driver_lines.clear()
            with capture_logs() as logs:
                service.kill()
                wait_until(lambda: not port_open(service.port), 10, "tansu to be gone")
                for _ in range(6):
                    assert not await _publish(broker)
                    await broker.fetch(1, 0.2)
                await asyncio.to_thread(service.start)
                for _ in range(100):
                    if await _publish(broker):
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("publishing never worked again after the restart")
                # a producer that failed is never used again: a new one published
                assert broker._producer is not None and broker._producer is not producer
        finally:
            await broker.close()
    finally:
        service.stop()
    down = [e for e in logs if e["event"].startswith("kafka broker unreachable")]
    back = [e for e in logs if e["event"] == "kafka broker reachable again"]
    assert len(down) == 1 and down[0]["log_level"] == "warning", logs
    assert len(back) == 1 and back[0]["log_level"] == "info", logs
    assert back[0]["driver_lines_dropped"] >= 1
    loud = [
        r.getMessage()
        for r in driver_lines
        if r.name.startswith("aiokafka") and r.levelno >= logging.WARNING
    ]
    assert loud == [], loud
