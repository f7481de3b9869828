"""Redis URLs: validation, the xqueue settings they carry, and a printable form.

Forms accepted (``rediss://`` is the same over TLS)::

    redis://host:6379/0
    redis://:password@host:6379/0
    redis://user:password@host:6379/0?prefix=myapp&socket_timeout=5

Settings in the query string are either xqueue's own (``prefix``, ``retries``,
``lane``) or connection settings. Plain ``redis://`` URLs talk over lean lanes
(:mod:`xqueue_redis.lane`); ``rediss://`` (TLS), ``lane=false`` and the settings
only redis-py implements (``max_connections``, ``health_check_interval``) use
redis-py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from xqueue_core.errors import SettingsError
from xqueue_core.sections import load_section, redact_url, setting

SCHEMES = ("redis", "rediss")
DEFAULT_PREFIX = "xqueue"
DEFAULT_SOCKET_TIMEOUT = 5.0
DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_RETRIES = 12  # with backoff capped at 2 s: about 15 s of reconnecting per call
PREFIX_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

# settings a lane does not implement: asking for them means redis-py carries the backend
REDIS_PY_ONLY = ("max_connections", "health_check_interval")
_OWN = ("prefix", "retries", "lane")  # xqueue's own: not passed on to redis-py


def _prefix_problem(prefix: str) -> str | None:
    if PREFIX_RE.match(prefix):
        return None
    return f"must be 1-64 letters, digits, '_', '.', ':' or '-', got {prefix!r}"


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """A checked Redis URL: the settings in its query and what redis-py is given.

    ``url`` … ``redacted`` are derived from the URL; the rest are the settings
    of its query string.
    """

    url: str  # as given
    connect_url: str  # without xqueue's own settings
    redacted: str  # safe to print: no password
    prefix: str = setting(DEFAULT_PREFIX, check=_prefix_problem)
    retries: int = setting(DEFAULT_RETRIES, minimum=0)
    socket_timeout: float = setting(DEFAULT_SOCKET_TIMEOUT, above=0)
    socket_connect_timeout: float = setting(DEFAULT_CONNECT_TIMEOUT, above=0)
    health_check_interval: float | None = setting(None, minimum=0)
    max_connections: int | None = setting(None, minimum=1)
    client_name: str | None = setting(None)
    ssl_cert_reqs: str | None = setting(None)
    ssl_ca_certs: str | None = setting(None)
    ssl_certfile: str | None = setting(None)
    ssl_keyfile: str | None = setting(None)
    ssl_check_hostname: str | None = setting(None)
    # talk over lean lanes (xqueue_redis.lane) rather than redis-py
    lane: bool = setting(True)

    @property
    def tls(self) -> bool:
        return self.url.lower().startswith("rediss:")


def parse_url(url: str) -> RedisSettings:
    """Check a ``redis://`` or ``rediss://`` URL; raise SettingsError naming what is wrong."""
    shown = redact_url(url)
    where = f"Redis URL {shown!r}"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
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
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    loaded = load_section(RedisSettings, "redis", [(f"URL {shown}", query)])
    tls_settings = sorted(key for key in loaded.values if key.startswith("ssl_"))
    if tls_settings and scheme != "rediss":
        raise SettingsError(f"{where}: {', '.join(tls_settings)} only apply to TLS: use rediss://")
    lane = _lane_choice(where, scheme, loaded.values)
    passed_on = {k: v for k, v in query.items() if k not in _OWN}
    values = {**loaded.values, "lane": lane}
    socket_timeout = values.setdefault("socket_timeout", DEFAULT_SOCKET_TIMEOUT)
    connect_timeout = values.setdefault("socket_connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    passed_on["socket_timeout"] = str(socket_timeout)
    passed_on["socket_connect_timeout"] = str(connect_timeout)
    connect_url = urlunsplit((scheme, parts.netloc, parts.path, urlencode(passed_on), ""))
    return RedisSettings(url=url, connect_url=connect_url, redacted=shown, **values)


def _lane_choice(where: str, scheme: str, values: dict[str, object]) -> bool:
    """Whether to talk over lanes: yes on plain TCP unless ``lane=false`` or a setting
    only redis-py has is given (asking for a lane then is an error)."""
    asked = "lane" in values
    wanted = bool(values.get("lane", True))
    needs_redis_py = [key for key in REDIS_PY_ONLY if key in values]
    if scheme == "rediss":
        needs_redis_py.insert(0, "TLS (rediss://)")
    if wanted and needs_redis_py and asked:
        raise SettingsError(
            f"{where}: lane=true cannot be used with {', '.join(needs_redis_py)} "
            "(redis-py handles those): drop lane or those settings"
        )
    return wanted and not needs_redis_py
