"""KafkaSettings: everything configurable about the Kafka broker, from the URL and settings.

Settings come from the ``[kafka]`` table of the settings file and from the URL
query; the URL wins. Every bad value is a one-line :class:`SettingsError`
naming the setting, the value and where it came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from xqueue_core.errors import SettingsError
from xqueue_core.sections import (
    Loaded,
    defaults_of,
    load_section,
    redact_url,
    setting,
    table_layer,
)
from xqueue_core.settings import Settings

DEFAULT_PORT = 9092
BANDS = ("high", "normal", "low")
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_TOPIC_CHARS = re.compile(r"^[A-Za-z0-9._-]+$")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)$")


def _prefix_problem(prefix: str) -> str | None:
    if _TOPIC_CHARS.match(prefix) and len(prefix) <= 200:
        return None
    return (
        f"{prefix!r} is not a valid topic prefix "
        "(letters, digits, '.', '_', '-'; at most 200 characters)"
    )


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """The broker's configuration; see ``docs/kafka.md`` for each setting."""

    servers: tuple[str, ...] = (f"localhost:{DEFAULT_PORT}",)  # from the URL (and ``servers``)
    prefix: str = setting("xqueue", check=_prefix_problem)
    # empty: f"{prefix}-workers", so apps with their own prefix never share one
    group: str = setting("", nonempty=True)
    partitions: int = setting(6, minimum=1)
    replication: int = setting(1, minimum=1)
    min_insync_replicas: int | None = setting(None, minimum=1)  # for new topics; broker default
    create_topics: bool = setting(True)
    high_priority: int = setting(1)  # priority >= this goes to the high band
    low_priority: int = setting(-1)  # priority <= this goes to the low band
    fairness: int = setting(10, minimum=1)  # every n-th fetch starts from a lower band
    linger_ms: int = setting(1, minimum=0)
    batch_bytes: int = setting(65536, minimum=1024)
    compression: str = setting("gzip", choices=COMPRESSIONS, case="lower")
    session_timeout_ms: int = setting(10000, minimum=100)
    heartbeat_interval_ms: int = setting(1000, minimum=10)
    rebalance_timeout_ms: int = setting(30000, minimum=100)
    max_poll_interval_ms: int = setting(3_600_000, minimum=1000)
    revoke_wait_ms: int = setting(2000, minimum=0)
    commit_interval_ms: int = setting(100, minimum=1)
    prefetch_bytes: int = setting(65536, minimum=1024)
    fetch_wait_ms: int = setting(20, minimum=0)
    request_timeout_ms: int = setting(30000, minimum=100)
    metadata_max_age_ms: int = setting(30000, minimum=100)
    client_id: str = setting("xqueue", nonempty=True)
    security_protocol: str = setting("PLAINTEXT", choices=SECURITY_PROTOCOLS, case="upper")
    sasl_mechanism: str = setting("PLAIN", choices=SASL_MECHANISMS, case="upper")
    sasl_username: str | None = setting(None, nonempty=True)
    sasl_password: str | None = setting(None, nonempty=True, secret=True)
    ssl_cafile: str | None = setting(None, nonempty=True)
    ssl_certfile: str | None = setting(None, nonempty=True)
    ssl_keyfile: str | None = setting(None, nonempty=True)
    ssl_check_hostname: bool = setting(True)

    def __post_init__(self) -> None:
        if not self.group:
            object.__setattr__(self, "group", f"{self.prefix}-workers")

    def topic(self, band: str) -> str:
        """The topic of a priority band, e.g. ``xqueue.high``."""
        return f"{self.prefix}.{band}"

    @property
    def topics(self) -> tuple[str, ...]:
        """All band topics, highest band first."""
        return tuple(self.topic(band) for band in BANDS)

    def band(self, priority: int) -> str:
        """The band a priority belongs to."""
        if priority >= self.high_priority:
            return "high"
        if priority <= self.low_priority:
            return "low"
        return "normal"

    def band_of_topic(self, topic: str) -> str | None:
        for band in BANDS:
            if topic == self.topic(band):
                return band
        return None

    @property
    def bootstrap(self) -> str:
        """The bootstrap servers as one string, for messages."""
        return ",".join(self.servers)


def _servers(netloc: str, where: str) -> tuple[str, ...]:
    hosts = netloc.rpartition("@")[2]
    if not hosts:
        raise SettingsError(f"{where} names no broker; use kafka://host:9092")
    servers = []
    for part in hosts.split(","):
        host, port = part.strip(), str(DEFAULT_PORT)
        if ":" in host and not host.endswith("]"):  # "[::1]" alone has no port
            host, _, port = host.rpartition(":")
        if not _HOST.match(host) or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"{where}: {part.strip()!r} is not a broker address like host:9092")
        servers.append(f"{host}:{int(port)}")
    return tuple(servers)


def parse_settings(url: str, settings: Settings) -> KafkaSettings:
    """Build :class:`KafkaSettings` from ``settings.extra("kafka")`` and the URL.

    ``kafka://[user:password@]host:port[,host:port...][?name=value&...]``;
    user and password in the URL are the SASL credentials. The URL wins over
    the table; ``fairness`` defaults to the core's ``priority_fairness``.
    """
    parts = urlsplit(url)
    if parts.scheme != "kafka":
        raise SettingsError(f"kafka URL {redact_url(url)!r} must start with kafka://")
    if parts.path not in ("", "/"):
        raise SettingsError(
            f"kafka URL {redact_url(url)!r}: unexpected path {parts.path!r}; "
            "settings go in the query, e.g. kafka://host:9092?prefix=jobs"
        )
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise SettingsError(
            f"kafka URL {redact_url(url)!r}: malformed query {parts.query!r}"
        ) from None
    table, query_values = dict(settings.extra("kafka")), dict(query)
    servers = _servers(parts.netloc, f"kafka URL {redact_url(url)!r}")
    for source, values in ((table_layer(table, "kafka")[0], table), ("URL query", query_values)):
        more = values.pop("servers", None)  # more bootstrap servers: "h2:9092,h3:9092"
        if more is not None:
            text = ",".join(map(str, more)) if isinstance(more, list | tuple) else str(more)
            where = f"kafka setting 'servers' (from {source})"
            servers += tuple(s for s in _servers(text, where) if s not in servers)
    layers = [
        ("setting priority_fairness", {"fairness": settings.priority_fairness}),
        table_layer(table, "kafka"),
        ("URL", _credentials(parts.netloc)),
        ("URL query", query_values),
    ]
    loaded = load_section(KafkaSettings, "kafka", layers)
    _check(loaded)
    return loaded.build(servers=servers)


def _credentials(netloc: str) -> dict[str, str]:
    userinfo, at, _ = netloc.rpartition("@")
    if not at:
        return {}
    user, _, password = userinfo.partition(":")
    found = {"sasl_username": unquote(user)}
    if password:
        found["sasl_password"] = unquote(password)
    return found


def _check(loaded: Loaded[KafkaSettings]) -> None:
    v = loaded.values
    low, high = v.get("low_priority", -1), v.get("high_priority", 1)
    if low >= high:
        raise SettingsError(
            f"kafka setting 'low_priority' ({low}) must be below 'high_priority' ({high})"
        )
    heartbeat, session = v.get("heartbeat_interval_ms", 1000), v.get("session_timeout_ms", 10000)
    if heartbeat >= session:
        raise SettingsError(
            f"kafka setting 'heartbeat_interval_ms' ({heartbeat}) must be shorter "
            f"than 'session_timeout_ms' ({session})"
        )
    protocol = v.get("security_protocol", "PLAINTEXT")
    if protocol.startswith("SASL") and not (v.get("sasl_username") and v.get("sasl_password")):
        raise SettingsError(
            f"kafka setting 'security_protocol' {protocol} needs sasl_username and "
            "sasl_password (or kafka://user:password@host:9092)"
        )


def known_settings() -> Mapping[str, Any]:
    """Every setting with its default (for docs and ``xqueue plugins``)."""
    return defaults_of(KafkaSettings)
