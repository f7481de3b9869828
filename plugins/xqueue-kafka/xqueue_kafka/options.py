"""KafkaOptions: everything configurable about the Kafka broker, from the URL and settings.

Options come from the ``[kafka]`` table of the settings file and from the URL
query; the URL wins. Every bad value is a one-line :class:`SettingsError`
naming the option, the value and where it came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from xqueue_core.errors import SettingsError
from xqueue_core.settings import Settings

DEFAULT_PORT = 9092
BANDS = ("high", "normal", "low")
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_TOPIC_CHARS = re.compile(r"^[A-Za-z0-9._-]+$")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)$")


@dataclass(frozen=True, slots=True)
class KafkaOptions:
    """The broker's configuration; see ``docs/kafka.md`` for each option."""

    servers: tuple[str, ...] = (f"localhost:{DEFAULT_PORT}",)
    prefix: str = "xqueue"
    group: str = ""  # empty: f"{prefix}-workers", so apps with their own prefix never share one
    partitions: int = 6
    replication: int = 1
    min_insync_replicas: int | None = None  # topic config for new topics; broker default
    create_topics: bool = True
    high_priority: int = 1  # priority >= this goes to the high band
    low_priority: int = -1  # priority <= this goes to the low band
    fairness: int = 10  # every n-th fetch starts from a lower band
    linger_ms: int = 1
    batch_bytes: int = 65536
    compression: str = "gzip"
    session_timeout_ms: int = 10000
    heartbeat_interval_ms: int = 1000
    rebalance_timeout_ms: int = 30000
    max_poll_interval_ms: int = 3_600_000
    revoke_wait_ms: int = 2000
    commit_interval_ms: int = 100
    prefetch_bytes: int = 65536
    fetch_wait_ms: int = 20
    request_timeout_ms: int = 30000
    metadata_max_age_ms: int = 30000
    client_id: str = "xqueue"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True

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


_FIELDS = {f.name: f for f in fields(KafkaOptions) if f.name != "servers"}
_SECRET = {"sasl_password"}
_MIN = {
    "partitions": 1,
    "replication": 1,
    "min_insync_replicas": 1,
    "fairness": 1,
    "linger_ms": 0,
    "batch_bytes": 1024,
    "session_timeout_ms": 100,
    "heartbeat_interval_ms": 10,
    "rebalance_timeout_ms": 100,
    "max_poll_interval_ms": 1000,
    "revoke_wait_ms": 0,
    "commit_interval_ms": 1,
    "prefetch_bytes": 1024,
    "fetch_wait_ms": 0,
    "request_timeout_ms": 100,
    "metadata_max_age_ms": 100,
}
_CHOICES = {
    "compression": COMPRESSIONS,
    "security_protocol": SECURITY_PROTOCOLS,
    "sasl_mechanism": SASL_MECHANISMS,
}


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = str(_FIELDS[name].type).replace(" | None", "")
    shown = "***" if name in _SECRET else repr(value)
    where = f"kafka option {name!r} (from {source})"
    if kind == "int":
        if isinstance(value, bool):
            raise SettingsError(f"{where}: expected a whole number, got {shown}")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise SettingsError(f"{where}: expected a whole number, got {shown}") from None
        low = _MIN.get(name)
        if low is not None and number < low:
            raise SettingsError(f"{where}: must be at least {low}, got {number}")
        return number
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{where}: expected true or false, got {shown}")
    if not isinstance(value, str) or not value:
        raise SettingsError(f"{where}: expected a non-empty string, got {shown}")
    if name in _CHOICES:
        value = value.upper() if name != "compression" else value.lower()
        if value not in _CHOICES[name]:
            raise SettingsError(f"{where}: must be one of {', '.join(_CHOICES[name])}, got {shown}")
    return value


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


def parse_options(url: str, settings: Settings) -> KafkaOptions:
    """Build :class:`KafkaOptions` from ``settings.extra("kafka")`` and the URL.

    ``kafka://[user:password@]host:port[,host:port...][?option=value&...]``;
    user and password in the URL are the SASL credentials.
    """
    parts = urlsplit(url)
    if parts.scheme != "kafka":
        raise SettingsError(f"kafka URL {url!r} must start with kafka://")
    if parts.path not in ("", "/"):
        raise SettingsError(
            f"kafka URL {url!r}: unexpected path {parts.path!r}; "
            "options go in the query, e.g. kafka://host:9092?prefix=jobs"
        )
    values: dict[str, Any] = {"fairness": settings.priority_fairness}
    sources: dict[str, str] = {}
    for key, value in settings.extra("kafka").items():
        values[key] = value
        sources[key] = "settings [kafka]"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        user, _, password = userinfo.partition(":")
        values["sasl_username"] = unquote(user)
        sources["sasl_username"] = "URL"
        if password:
            values["sasl_password"] = unquote(password)
            sources["sasl_password"] = "URL"
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise SettingsError(f"kafka URL {url!r}: malformed query {parts.query!r}") from None
    for key, value in query:
        values[key] = value
        sources[key] = "URL query"
    servers = _servers(parts.netloc, f"kafka URL {url!r}")
    more = values.pop("servers", None)
    if more is not None:  # more bootstrap servers: "h2:9092,h3:9092" (settings file or query)
        where = f"kafka option 'servers' (from {sources.get('servers')})"
        text = ",".join(map(str, more)) if isinstance(more, list | tuple) else str(more)
        servers += tuple(s for s in _servers(text, where) if s not in servers)
    clean: dict[str, Any] = {"servers": servers}
    for key, value in values.items():
        if key not in _FIELDS:
            raise SettingsError(
                f"unknown kafka option {key!r} (from {sources.get(key, 'settings')}); "
                f"known options: {', '.join(sorted([*_FIELDS, 'servers']))}"
            )
        clean[key] = _coerce(key, value, sources.get(key, "settings priority_fairness"))
    options = KafkaOptions(**clean)
    _check(options)
    return options


def _check(o: KafkaOptions) -> None:
    if not _TOPIC_CHARS.match(o.prefix) or len(o.prefix) > 200:
        raise SettingsError(
            f"kafka option 'prefix': {o.prefix!r} is not a valid topic prefix "
            "(letters, digits, '.', '_', '-'; at most 200 characters)"
        )
    if o.low_priority >= o.high_priority:
        raise SettingsError(
            f"kafka option 'low_priority' ({o.low_priority}) must be below "
            f"'high_priority' ({o.high_priority})"
        )
    if o.heartbeat_interval_ms >= o.session_timeout_ms:
        raise SettingsError(
            f"kafka option 'heartbeat_interval_ms' ({o.heartbeat_interval_ms}) must be shorter "
            f"than 'session_timeout_ms' ({o.session_timeout_ms})"
        )
    if o.security_protocol.startswith("SASL") and not (o.sasl_username and o.sasl_password):
        raise SettingsError(
            f"kafka security_protocol {o.security_protocol} needs sasl_username and "
            "sasl_password (or kafka://user:password@host:9092)"
        )


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{hosts}").geturl()


def known_options() -> Mapping[str, Any]:
    """Every option with its default (for docs and ``xqueue plugins``)."""
    defaults = KafkaOptions()
    return {name: getattr(defaults, name) for name in sorted(_FIELDS)}
