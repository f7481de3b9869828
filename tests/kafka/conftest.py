"""Fixtures for the Kafka broker tests: a private Tansu broker on a free port.

Set ``XQUEUE_TEST_KAFKA=host:9092[,host:9093]`` to run the same tests against an
external Kafka-protocol broker (Apache Kafka, Redpanda) instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.kafka.kafka_services import make_url, tansu


@pytest.fixture(scope="session")
def kafka_servers() -> Iterator[str]:
    """``host:port`` of the Kafka-protocol broker shared by the tests of this run."""
    external = os.environ.get("XQUEUE_TEST_KAFKA")
    if external:
        yield external
        return
    with tansu() as service:
        yield f"127.0.0.1:{service.port}"


@pytest.fixture
def kafka_url(kafka_servers: str) -> str:
    """A broker URL with fresh topics and a fresh consumer group."""
    return make_url(kafka_servers)
