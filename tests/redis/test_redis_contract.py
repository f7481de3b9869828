"""The core's contract suites, unchanged, against the Redis store: over the lean lanes
plain ``redis://`` URLs use, and over redis-py (``lane=false``, the path ``rediss://``
users get)."""

from __future__ import annotations

import pytest
from xqueue_redis import parse_url

from tests.redis.redis_services import url_for
from xqueue_core.testing.contracts import StoreContract
from xqueue_core.testing.services import ServiceProcess
from xqueue_core.testing.state_machine import make_store_machine

pytestmark = pytest.mark.autoload_plugins  # the store comes from its entry point

# the two ways the store talks to Redis: {test id: what goes on the URL's query}
CONNECTIONS = {"lanes": "", "redis-py": "&lane=false"}

_server: list[ServiceProcess] = []


@pytest.fixture(autouse=True)
def _remember_server(redis_server: ServiceProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    _server[:] = [redis_server]
    # Found through its entry point, as users get it; other plugins stay out of the way.
    monkeypatch.setenv("XQUEUE_LOAD_PLUGINS", "redis")


def _url(connection: str) -> str:
    url = url_for(_server[0]) + CONNECTIONS[connection]
    assert parse_url(url).lane is (connection == "lanes")
    return url


class TestRedisStore(StoreContract):
    @pytest.fixture(params=list(CONNECTIONS))
    def store_url(self, request: pytest.FixtureRequest, redis_url: str) -> str:
        return _url(request.param)


TestRedisLifecycle = make_store_machine(lambda: _url("lanes"))
# fewer examples over redis-py: each opens a client of its own, ~0.4 s where a lane takes 0.25
TestRedisLifecycleRedisPy = make_store_machine(lambda: _url("redis-py"), max_examples=25)
