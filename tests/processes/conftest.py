"""Fixtures of the core's real-process tests (helpers live in core_helpers.py)."""

from tests.processes.core_helpers import (
    client,
    kafka_servers,
    keyed,
    on_every_broker,
    redis_server,
    xenv,
)

__all__ = ["client", "kafka_servers", "keyed", "on_every_broker", "redis_server", "xenv"]
