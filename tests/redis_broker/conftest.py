"""A private redis-server on a free loopback port for the Redis Streams broker tests."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.redis_broker.rb_app import make_app
from tests.redis_broker.rb_helpers import Cluster, url_for
from xqueue_core import XQueue
from xqueue_core.testing.services import ServiceProcess, redis_command

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here finds the Redis plugin through its entry point, as users do
    (``_only_the_redis_plugin`` narrows discovery to it)."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.autoload_plugins)


def _need_redis() -> None:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")


@pytest.fixture(autouse=True)
def _only_the_redis_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Discover backends through entry points, but load only this distribution's."""
    monkeypatch.setenv("XQUEUE_LOAD_PLUGINS", "redis")


@pytest.fixture(scope="session")
def streams_redis() -> Iterator[ServiceProcess]:
    """One redis-server for the session; tests stay apart through their key prefix."""
    _need_redis()
    with ServiceProcess("redis-streams", redis_command()) as server:
        yield server


@pytest.fixture
def durable_redis() -> Iterator[ServiceProcess]:
    """A redis-server of the test's own with AOF fsync on every write (to kill and restart)."""
    _need_redis()
    with ServiceProcess("redis-streams-aof", redis_command(durable=True)) as server:
        yield server


@pytest.fixture
def redis_url(streams_redis: ServiceProcess) -> str:
    """A URL with a fresh key prefix: empty band streams and an empty store."""
    return url_for(streams_redis)


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[Cluster]:
    group = Cluster(tmp_path, redis_url)
    try:
        yield group
    finally:
        group.close()


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[XQueue]:
    """An app on the test's Redis URL (broker and store), with the test handlers."""
    app = make_app("rb-client", broker=redis_url, store=redis_url, lease_ttl=2.0)
    async with app:
        yield app
