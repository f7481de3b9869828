"""Private redis-server processes on free loopback ports for the Redis store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis.redis_services import url_for
from xqueue_core.testing.services import ServiceProcess, redis_command


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ServiceProcess]:
    """One redis-server for the session; tests stay apart through their key prefix."""
    with ServiceProcess("redis", redis_command()) as server:
        yield server


@pytest.fixture
def durable_redis() -> Iterator[ServiceProcess]:
    """A redis-server of the test's own, with AOF fsync on every write (to kill and restart)."""
    with ServiceProcess("redis-aof", redis_command(durable=True)) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: ServiceProcess) -> str:
    """A store URL with a fresh key prefix: an empty store on the shared server."""
    return url_for(redis_server)
