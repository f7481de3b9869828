"""The core's broker contract, unchanged, against Kafka (a private Tansu, or XQUEUE_TEST_KAFKA)."""

from __future__ import annotations

import pytest
from kafka_services import make_url

from xqueue_core.testing.contracts import BrokerContract


class TestKafkaBroker(BrokerContract):
    @pytest.fixture
    def broker_url(self, kafka_servers: str) -> str:
        return make_url(kafka_servers)
