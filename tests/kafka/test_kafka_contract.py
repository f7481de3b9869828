"""The core's broker contract, unchanged, against Kafka (a private Tansu, or XQUEUE_TEST_KAFKA)."""

from __future__ import annotations

import pytest

from tests.kafka.kafka_services import make_url
from xqueue_core.testing.contracts import BrokerContract, PublishFaultContract

# The broker is built through the factory its installed entry point registers.
pytestmark = pytest.mark.autoload_plugins


class TestKafkaBroker(BrokerContract):
    @pytest.fixture
    def broker_url(self, kafka_servers: str) -> str:
        return make_url(kafka_servers)


class TestKafkaPublishFaults(PublishFaultContract):
    """On Kafka with the embedded store: a Kafka consumer never redelivers a message it
    holds, so a hand-back that failed must go through the store."""

    @pytest.fixture
    def broker_url(self, kafka_servers: str) -> str:
        return make_url(kafka_servers)

    @pytest.fixture
    def store_url(self, sqlite_url: str) -> str:
        return sqlite_url
