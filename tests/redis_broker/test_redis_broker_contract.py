"""The core's broker contract, unchanged, against Redis Streams, over the lean lanes
plain ``redis://`` URLs use and over redis-py (``lane=false``, the path ``rediss://``
users get); then the whole app with Redis as broker and store."""

from __future__ import annotations

import pytest
from xqueue_redis import parse_url
from xqueue_redis.broker import RedisBroker

from tests.redis_broker.rb_app import make_app
from xqueue_core import XQueue
from xqueue_core.testing.contracts import BrokerContract, PublishFaultContract

# the two ways the backends talk to Redis: {test id: what goes on the URL's query}
CONNECTIONS = {"lanes": "", "redis-py": "&lane=false"}


@pytest.fixture(params=list(CONNECTIONS))
def contract_url(request: pytest.FixtureRequest, redis_url: str) -> str:
    """The test's Redis URL, in one of the two connection forms."""
    url = redis_url + CONNECTIONS[request.param]
    assert parse_url(url).lane is (request.param == "lanes")
    return url


class TestRedisStreamsBroker(BrokerContract):
    @pytest.fixture
    def broker_url(self, contract_url: str) -> str:
        return contract_url


class TestRedisPublishFaults(PublishFaultContract):
    @pytest.fixture
    def broker_url(self, contract_url: str) -> str:
        return contract_url

    @pytest.fixture
    def store_url(self, contract_url: str) -> str:
        return contract_url


async def test_the_app_runs_on_redis_broker_and_store(redis_url: str) -> None:
    app = make_app("rb-app", broker=redis_url, store=redis_url, lease_ttl=2.0)
    async with app:
        assert isinstance(app.broker, RedisBroker)
        async with app.worker(concurrency=8):
            tasks = await app.submit_many(
                [{"type": "sleep", "payload": {"seconds": 0.01}} for _ in range(50)]
            )
            done = [await app.wait(t.id, timeout=30) for t in tasks]
        assert {str(t.status) for t in done} == {"success"}
        stats = await app.stats()
    broker = stats["broker"]
    assert broker["messages_waiting"] == 0 and broker["messages_in_flight"] == 0
    assert sum(band["length"] for band in broker["bands"].values()) == 0


async def test_cli_style_settings_pick_the_redis_broker(redis_url: str) -> None:
    app = XQueue(broker=redis_url, store=redis_url)
    async with app:
        assert type(app.broker).__name__ == "RedisBroker"
        assert await app.health() == {"broker": "ok", "store": "ok"}
