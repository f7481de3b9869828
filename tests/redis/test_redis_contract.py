"""The core's contract suites, unchanged, against the Redis store."""

from __future__ import annotations

import pytest
from redis_services import url_for

from xqueue_core.testing.contracts import StoreContract
from xqueue_core.testing.services import ServiceProcess
from xqueue_core.testing.state_machine import make_store_machine

_server: list[ServiceProcess] = []


@pytest.fixture(autouse=True)
def _remember_server(redis_server: ServiceProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    _server[:] = [redis_server]
    # Found through its entry point, as users get it; other plugins stay out of the way.
    monkeypatch.setenv("XQUEUE_LOAD_PLUGINS", "redis")


class TestRedisStore(StoreContract):
    @pytest.fixture
    def store_url(self, redis_url: str) -> str:
        return redis_url


TestRedisLifecycle = make_store_machine(lambda: url_for(_server[0]))
