"""The private services of a bench run: Redis, and Tansu for the Kafka configuration.

Their command lines are those of the tests (``xqueue_core.testing.services``).
"""

from __future__ import annotations

from xqueue_core.testing.services import (
    ServiceProcess,
    redis_command,
    tansu_command,
    tansu_reason,
)

kafka_reason = tansu_reason  # why the Kafka configuration cannot run (None: it can)


def redis_service(appendfsync: str | None = None) -> ServiceProcess:
    """``redis-server`` on a free loopback port (not started): no persistence, or the
    AOF with ``appendfsync`` (``everysec``, ``always``)."""
    durable = appendfsync is not None
    return ServiceProcess("redis", redis_command(durable, appendfsync or "always"))


def tansu_service() -> ServiceProcess:
    """Tansu (memory storage) on a free loopback port, not started."""
    return ServiceProcess("tansu", tansu_command())
