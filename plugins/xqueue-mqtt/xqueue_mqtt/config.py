"""Settings of the MQTT notifier: from the URL, the ``[mqtt]`` TOML table, or both.

URL query parameters override the table, so one ``[mqtt]`` table can hold what
every notifier URL shares (credentials, TLS files) while a URL picks its prefix
or QoS. Every bad value is refused with a one-line :class:`SettingsError` that
names the setting, the value and where it came from.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from xqueue_core.errors import SettingsError

SCHEMES = ("mqtt", "mqtts", "ws", "wss")
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}
PROTOCOLS = {"5": 5, "5.0": 5, "311": 4, "3.1.1": 4, "4": 4}
_CLIENT_ID_FIELDS = re.compile(r"\{(\w*)\}")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Where and how the notifier connects and publishes (all validated)."""

    host: str
    port: int
    transport: Literal["tcp", "websockets"] = "tcp"
    tls: bool = False
    ws_path: str = "/mqtt"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    prefix: str = "xqueue"
    qos: int = 1
    retain: bool = True
    stream: bool = True
    client_id: str = ""
    protocol: int = 5  # 5 = MQTT 5.0, 4 = MQTT 3.1.1
    keepalive: int = 30
    buffer: int = 10_000
    timeout: float = 10.0
    reconnect_min: float = 0.1
    reconnect_max: float = 5.0
    inflight: int = 100
    presence: bool = True
    presence_expiry: int = 0
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    tls_insecure: bool = False


# Every setting and its kind: str, version (str or number), int, float, bool.
_KEYS: dict[str, str] = {
    "prefix": "str",
    "qos": "int",
    "retain": "bool",
    "stream": "bool",
    "client_id": "str",
    "protocol": "version",
    "keepalive": "int",
    "buffer": "int",
    "timeout": "float",
    "reconnect_min": "float",
    "reconnect_max": "float",
    "inflight": "int",
    "presence": "bool",
    "presence_expiry": "int",
    "ca_certs": "str",
    "certfile": "str",
    "keyfile": "str",
    "tls_insecure": "bool",
    "username": "str",
    "password": "str",
}
_URL_ONLY_FORBIDDEN = ("username", "password")  # credentials belong in the netloc


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (for logs and health output)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc[-1]}").geturl()


def _convert(name: str, kind: str, value: Any, where: str) -> Any:
    bad = f"mqtt setting {name!r} ({where})"
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise SettingsError(f"{bad}: expected true or false, got {value!r}")
    if kind == "int":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise SettingsError(f"{bad}: expected a whole number, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{bad}: expected a whole number, got {value!r}") from None
    if kind == "float":
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{bad}: expected a number, got {value!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise SettingsError(f"{bad}: expected a finite number, got {value!r}")
        return number
    if kind == "version" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise SettingsError(f"{bad}: expected a string, got {value!r}")
    return value


def check_prefix(prefix: str, where: str) -> str:
    """A topic prefix: non-empty levels, no wildcards, not starting with ``$``."""
    bad = f"mqtt setting 'prefix' ({where}): {prefix!r}"
    if not prefix:
        raise SettingsError(f"{bad} is empty; use e.g. 'xqueue'")
    if "+" in prefix or "#" in prefix or "\x00" in prefix:
        raise SettingsError(f"{bad} contains a wildcard ('+' or '#') or NUL; topics cannot")
    if prefix.startswith("$"):
        raise SettingsError(f"{bad} starts with '$', which brokers reserve for themselves")
    if prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        raise SettingsError(f"{bad} has an empty topic level; write levels like 'app/xqueue'")
    return prefix


def expand_client_id(template: str, where: str) -> str:
    """Fill ``{host}``, ``{pid}`` and ``{random}`` in a client id template."""
    known = {"host": socket.gethostname(), "pid": str(os.getpid()), "random": secrets.token_hex(3)}
    for name in _CLIENT_ID_FIELDS.findall(template):
        if name not in known:
            raise SettingsError(
                f"mqtt setting 'client_id' ({where}): unknown placeholder {{{name}}} in "
                f"{template!r}; use {{host}}, {{pid}} or {{random}}"
            )
    client_id = _CLIENT_ID_FIELDS.sub(lambda m: known[m.group(1)], template)
    if not client_id or len(client_id.encode()) > 65535 or any(c in client_id for c in "+#/"):
        raise SettingsError(
            f"mqtt setting 'client_id' ({where}): {template!r} must be non-empty text "
            "without '/', '+' or '#'"
        )
    return client_id


def _check(values: dict[str, Any], where: dict[str, str]) -> None:
    def bad(name: str, rule: str) -> SettingsError:
        return SettingsError(f"mqtt setting {name!r} ({where[name]}): {rule}, got {values[name]!r}")

    if "qos" in values and values["qos"] not in (0, 1, 2):
        raise bad("qos", "must be 0, 1 or 2")
    for name, low in (("keepalive", 5), ("buffer", 1), ("inflight", 1)):
        if name in values and values[name] < low:
            raise bad(name, f"must be at least {low}")
    if "keepalive" in values and values["keepalive"] > 65535:
        raise bad("keepalive", "must be at most 65535")
    for name in ("timeout", "reconnect_min", "reconnect_max"):
        if name in values and values[name] <= 0:
            raise bad(name, "must be greater than 0")
    if "presence_expiry" in values and not 0 <= values["presence_expiry"] <= 2**32 - 1:
        raise bad("presence_expiry", "must be between 0 (never) and 4294967295 seconds")
    if "protocol" in values:
        if str(values["protocol"]) not in PROTOCOLS:
            raise bad("protocol", "must be 5 (MQTT 5.0) or 311 (MQTT 3.1.1)")
        values["protocol"] = PROTOCOLS[str(values["protocol"])]


def _from_mapping(
    source: Mapping[str, Any], where: str, values: dict[str, Any], wheres: dict[str, str]
) -> None:
    for name, raw in source.items():
        if name not in _KEYS:
            raise SettingsError(
                f"unknown mqtt setting {name!r} ({where}); known settings: "
                f"{', '.join(sorted(_KEYS))}"
            )
        values[name] = _convert(name, _KEYS[name], raw, where)
        wheres[name] = where


def parse_settings(url: str, table: Mapping[str, Any] | None = None) -> MqttSettings:
    """Validate a notifier URL (and the ``[mqtt]`` table) into :class:`MqttSettings`.

    ``mqtt://user:pass@host:1883/?prefix=xqueue&qos=1&retain=true&protocol=5``;
    ``mqtts://`` adds TLS, ``ws://``/``wss://`` use WebSockets (the URL path is
    the WebSocket path, ``/mqtt`` when empty).
    """
    shown = redact(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or "://" not in url:
        raise SettingsError(
            f"mqtt notifier URL {shown!r}: scheme must be one of "
            f"{', '.join(s + '://' for s in SCHEMES)}"
        )
    if not parts.hostname:
        raise SettingsError(f"mqtt notifier URL {shown!r} has no host, e.g. mqtt://localhost:1883")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise SettingsError(f"mqtt notifier URL {shown!r} has an invalid port") from None
    if parts.fragment:
        raise SettingsError(f"mqtt notifier URL {shown!r}: remove the '#{parts.fragment}' part")
    transport: Literal["tcp", "websockets"] = "websockets" if scheme in ("ws", "wss") else "tcp"
    path = parts.path
    if transport == "tcp" and path not in ("", "/"):
        raise SettingsError(
            f"mqtt notifier URL {shown!r}: {scheme}:// takes no path (got {path!r}); "
            "set the topic prefix with ?prefix=..."
        )

    values: dict[str, Any] = {}
    wheres: dict[str, str] = {}
    _from_mapping(table or {}, "from the [mqtt] table", values, wheres)
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in query:
            raise SettingsError(f"mqtt notifier URL {shown!r} repeats the parameter {key!r}")
        if key in _URL_ONLY_FORBIDDEN:
            raise SettingsError(
                f"mqtt notifier URL {shown!r}: put {key} in the URL as "
                f"{scheme}://user:password@host, not as ?{key}="
            )
        query[key] = value
    _from_mapping(query, f"from URL {shown}", values, wheres)
    if parts.username is not None:
        values["username"] = unquote(parts.username)
        values["password"] = unquote(parts.password) if parts.password is not None else None
    _check(values, wheres)
    if "prefix" in values:
        check_prefix(values["prefix"], wheres["prefix"])
    template = values.pop("client_id", "xqueue-{host}-{pid}-{random}")
    client_id = expand_client_id(template, wheres.get("client_id", "default"))
    for name in ("ca_certs", "certfile", "keyfile"):
        if name in values and scheme not in ("mqtts", "wss"):
            raise SettingsError(
                f"mqtt setting {name!r} ({wheres[name]}) needs a TLS URL "
                f"(mqtts:// or wss://), not {scheme}://"
            )
    if values.get("keyfile") and not values.get("certfile"):
        raise SettingsError(f"mqtt setting 'keyfile' ({wheres['keyfile']}) needs 'certfile' too")
    settings = MqttSettings(
        host=parts.hostname,
        port=port,
        transport=transport,
        tls=scheme in ("mqtts", "wss"),
        ws_path=path or "/mqtt",
        client_id=client_id,
        **values,
    )
    if settings.reconnect_min > settings.reconnect_max:
        raise SettingsError(
            f"mqtt setting 'reconnect_min' ({settings.reconnect_min}) must not exceed "
            f"'reconnect_max' ({settings.reconnect_max})"
        )
    return settings
