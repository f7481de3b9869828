"""Redis URLs: validation, the xqueue options they carry, and a printable form.

Forms accepted (``rediss://`` is the same over TLS)::

    redis://host:6379/0
    redis://:password@host:6379/0
    redis://user:password@host:6379/0?prefix=myapp&socket_timeout=5

Options in the query string are either xqueue's own (``prefix``, ``retries``,
``lane``) or connection options. Plain ``redis://`` URLs talk over lean lanes
(:mod:`xqueue_redis.lane`); ``rediss://`` (TLS), ``lane=false`` and the options
only redis-py implements (``max_connections``, ``health_check_interval``) use
redis-py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from xqueue_core.errors import SettingsError

SCHEMES = ("redis", "rediss")
DEFAULT_PREFIX = "xqueue"
DEFAULT_SOCKET_TIMEOUT = 5.0
DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_RETRIES = 12  # with backoff capped at 2 s: about 15 s of reconnecting per call
PREFIX_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

_FLOAT_OPTIONS = ("socket_timeout", "socket_connect_timeout", "health_check_interval")
_INT_OPTIONS = ("max_connections", "retries")
_TEXT_OPTIONS = (
    "prefix",
    "client_name",
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_check_hostname",
)
_BOOL_OPTIONS = ("lane",)
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
# options a lane does not implement: asking for them means redis-py carries the backend
REDIS_PY_ONLY = ("max_connections", "health_check_interval")
OPTIONS = (*_TEXT_OPTIONS, *_FLOAT_OPTIONS, *_INT_OPTIONS, *_BOOL_OPTIONS)


@dataclass(frozen=True, slots=True)
class RedisURL:
    """A checked Redis URL split into what redis-py gets and what xqueue keeps."""

    url: str  # as given
    connect_url: str  # without xqueue's own options
    redacted: str  # safe to print: no password
    prefix: str
    retries: int
    socket_timeout: float
    connect_timeout: float
    lane: bool = True  # talk over lean lanes (xqueue_redis.lane) rather than redis-py

    @property
    def tls(self) -> bool:
        return self.url.lower().startswith("rediss:")


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def parse_url(url: str) -> RedisURL:
    """Check a ``redis://`` or ``rediss://`` URL; raise SettingsError naming what is wrong."""
    shown = redact(url)
    where = f"Redis URL {shown!r}"
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise SettingsError(f"{where}: scheme must be redis:// or rediss://")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise SettingsError(f"{where}: invalid port") from None
    if not parts.hostname:
        raise SettingsError(f"{where}: missing host (e.g. redis://localhost:6379/0)")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise SettingsError(f"{where}: database must be a number, got {db!r}")
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in OPTIONS:
            raise SettingsError(
                f"{where}: unknown option {key!r}; known options: {', '.join(sorted(OPTIONS))}"
            )
        options[key] = value
    for key in _FLOAT_OPTIONS:
        if key in options:
            _number(where, key, options[key], float)
    for key in _INT_OPTIONS:
        if key in options:
            _number(where, key, options[key], int)
    prefix = options.pop("prefix", DEFAULT_PREFIX)
    if not PREFIX_RE.match(prefix):
        raise SettingsError(
            f"{where}: prefix must be 1-64 letters, digits, '_', '.', ':' or '-', got {prefix!r}"
        )
    retries = int(options.pop("retries", DEFAULT_RETRIES))
    tls_options = sorted(key for key in options if key.startswith("ssl_"))
    if tls_options and parts.scheme.lower() != "rediss":
        raise SettingsError(f"{where}: {', '.join(tls_options)} only apply to TLS: use rediss://")
    lane = _lane_choice(where, parts.scheme.lower(), options)
    socket_timeout = float(options.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT))
    connect_timeout = float(options.get("socket_connect_timeout", DEFAULT_CONNECT_TIMEOUT))
    options["socket_timeout"] = str(socket_timeout)
    options["socket_connect_timeout"] = str(connect_timeout)
    connect_url = urlunsplit(
        (parts.scheme.lower(), parts.netloc, parts.path, urlencode(options), "")
    )
    return RedisURL(url, connect_url, shown, prefix, retries, socket_timeout, connect_timeout, lane)


def _lane_choice(where: str, scheme: str, options: dict[str, str]) -> bool:
    """Whether to talk over lanes: yes on plain TCP unless ``lane=false`` or an option
    only redis-py has is given (asking for a lane then is an error)."""
    text = options.pop("lane", None)
    wanted = True
    if text is not None:
        word = text.strip().lower()
        if word not in _TRUE + _FALSE:
            raise SettingsError(f"{where}: lane must be true or false, got {text!r}")
        wanted = word in _TRUE
    needs_redis_py = [key for key in REDIS_PY_ONLY if key in options]
    if scheme == "rediss":
        needs_redis_py.insert(0, "TLS (rediss://)")
    if wanted and needs_redis_py and text is not None:
        raise SettingsError(
            f"{where}: lane=true cannot be used with {', '.join(needs_redis_py)} "
            "(redis-py handles those): drop lane or those options"
        )
    return wanted and not needs_redis_py


def _number(where: str, key: str, value: str, kind: type[float] | type[int]) -> None:
    try:
        number = kind(value)
    except ValueError:
        raise SettingsError(f"{where}: option {key!r} must be a number, got {value!r}") from None
    if number < 0 or (key != "retries" and number == 0 and key != "health_check_interval"):
        raise SettingsError(f"{where}: option {key!r} must be positive, got {value!r}")
