"""Helpers for the Kafka tests: a private Tansu broker and per-test broker URLs.

Set ``XQUEUE_TEST_KAFKA=host:9092[,host:9093]`` to run the tests against an
external Kafka-protocol broker (Apache Kafka, Redpanda) instead of Tansu.
"""

from __future__ import annotations

import secrets

from xqueue_core.testing.services import ServiceProcess, tansu_command

# Short group timings: joins take about half the session timeout.
FAST = (
    "partitions=3&session_timeout_ms=1500&heartbeat_interval_ms=150"
    "&request_timeout_ms=5000&revoke_wait_ms=1000&commit_interval_ms=20"
)


def tansu(port: int | None = None) -> ServiceProcess:
    """A Tansu broker (in-memory storage) on a free loopback port, not started yet."""
    return ServiceProcess("tansu", tansu_command(), port=port)


def make_url(servers: str, extra: str = "") -> str:
    """A broker URL with its own topics and group, so tests sharing a broker never meet."""
    tag = secrets.token_hex(4)
    url = f"kafka://{servers}?prefix=t{tag}&group=g{tag}&{FAST}"
    return f"{url}&{extra}" if extra else url
