"""Private redis-server processes on free loopback ports for the Redis store tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from xqueue_redis import RedisStore

from tests.redis.redis_services import url_for
from xqueue_core.settings import Settings
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


@pytest.fixture
async def raw(redis_server: ServiceProcess) -> AsyncIterator[Any]:
    """A plain redis-py client on the shared server, to look at the keys themselves."""
    client = aioredis.from_url(f"redis://127.0.0.1:{redis_server.port}/0", decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    """A Redis store on a fresh prefix that publishes nothing by itself (no grace) and
    keeps no ended task (retention 0: upkeep purges them)."""
    s = RedisStore(redis_url, Settings(publish_grace=0.0, result_ttl=0.0))
    await s.open()
    try:
        yield s
    finally:
        await s.close()
