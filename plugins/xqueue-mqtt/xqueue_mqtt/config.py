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
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from xqueue_core.errors import SettingsError
from xqueue_core.sections import load_section, redact_url, setting, table_layer

SCHEMES = ("mqtt", "mqtts", "ws", "wss")
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}
PROTOCOLS = {"5": 5, "5.0": 5, "311": 4, "3.1.1": 4, "4": 4}
CLIENT_ID_TEMPLATE = "xqueue-{host}-{pid}-{random}"
_CLIENT_ID_FIELDS = re.compile(r"\{(\w*)\}")


def _protocol(value: Any) -> int:
    if not isinstance(value, bool) and str(value) in PROTOCOLS:
        return PROTOCOLS[str(value)]
    raise ValueError(f"must be 5 (MQTT 5.0) or 311 (MQTT 3.1.1), got {value!r}")


def _prefix_problem(prefix: str) -> str | None:
    """A topic prefix: non-empty levels, no wildcards, not starting with ``$``."""
    if not prefix:
        return f"{prefix!r} is empty; use e.g. 'xqueue'"
    if "+" in prefix or "#" in prefix or "\x00" in prefix:
        return f"{prefix!r} contains a wildcard ('+' or '#') or NUL; topics cannot"
    if prefix.startswith("$"):
        return f"{prefix!r} starts with '$', which brokers reserve for themselves"
    if prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        return f"{prefix!r} has an empty topic level; write levels like 'app/xqueue'"
    return None


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Where and how the notifier connects and publishes (all validated).

    ``host`` … ``ws_path`` come from the URL's scheme, host and path; the rest
    are settings (the ``[mqtt]`` table, then the URL query).
    """

    host: str
    port: int
    transport: Literal["tcp", "websockets"] = "tcp"
    tls: bool = False
    ws_path: str = "/mqtt"
    username: str | None = setting(None)
    password: str | None = setting(None, secret=True)
    prefix: str = setting("xqueue", check=_prefix_problem)
    qos: int = setting(1, choices=(0, 1, 2))
    retain: bool = setting(True)
    stream: bool = setting(True)
    client_id: str = setting(CLIENT_ID_TEMPLATE)  # a template: {host}, {pid}, {random}
    protocol: int = setting(5, convert=_protocol)  # 5 = MQTT 5.0, 4 = MQTT 3.1.1
    keepalive: int = setting(30, minimum=5, maximum=65535)
    buffer: int = setting(10_000, minimum=1)
    timeout: float = setting(10.0, above=0)
    reconnect_min: float = setting(0.1, above=0)
    reconnect_max: float = setting(5.0, above=0)
    inflight: int = setting(100, minimum=1)
    presence: bool = setting(True)
    presence_expiry: int = setting(0, minimum=0, maximum=2**32 - 1)  # seconds; 0: never
    ca_certs: str | None = setting(None)
    certfile: str | None = setting(None)
    keyfile: str | None = setting(None)
    tls_insecure: bool = setting(False)


_URL_ONLY_FORBIDDEN = ("username", "password")  # credentials belong in the netloc


def expand_client_id(template: str, where: str) -> str:
    """Fill ``{host}``, ``{pid}`` and ``{random}`` in a client id template.

    :param where: names the setting and its source in the error message.
    """
    known = {"host": socket.gethostname(), "pid": str(os.getpid()), "random": secrets.token_hex(3)}
    for name in _CLIENT_ID_FIELDS.findall(template):
        if name not in known:
            raise SettingsError(
                f"{where}: unknown placeholder {{{name}}} in "
                f"{template!r}; use {{host}}, {{pid}} or {{random}}"
            )
    client_id = _CLIENT_ID_FIELDS.sub(lambda m: known[m.group(1)], template)
    if not client_id or len(client_id.encode()) > 65535 or any(c in client_id for c in "+#/"):
        raise SettingsError(f"{where}: {template!r} must be non-empty text without '/', '+' or '#'")
    return client_id


def parse_settings(url: str, table: Mapping[str, Any] | None = None) -> MqttSettings:
    """Validate a notifier URL (and the ``[mqtt]`` table) into :class:`MqttSettings`.

    ``mqtt://user:pass@host:1883/?prefix=xqueue&qos=1&retain=true&protocol=5``;
    ``mqtts://`` adds TLS, ``ws://``/``wss://`` use WebSockets (the URL path is
    the WebSocket path, ``/mqtt`` when empty).
    """
    shown = redact_url(url)
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
    credentials: dict[str, str | None] = {}
    if parts.username is not None:
        credentials["username"] = unquote(parts.username)
        credentials["password"] = unquote(parts.password) if parts.password is not None else None
    loaded = load_section(
        MqttSettings,
        "mqtt",
        [table_layer(table or {}, "mqtt"), (f"URL {shown}", {**query, **credentials})],
    )
    values = loaded.values
    tls = scheme in ("mqtts", "wss")
    for name in ("ca_certs", "certfile", "keyfile"):
        if name in values and not tls:
            raise SettingsError(
                f"{loaded.where(name)} needs a TLS URL (mqtts:// or wss://), not {scheme}://"
            )
    if values.get("keyfile") and not values.get("certfile"):
        raise SettingsError(f"{loaded.where('keyfile')} needs 'certfile' too")
    if values.get("reconnect_min", 0.1) > values.get("reconnect_max", 5.0):
        raise SettingsError(
            f"mqtt setting 'reconnect_min' ({values.get('reconnect_min', 0.1)}) must not exceed "
            f"'reconnect_max' ({values.get('reconnect_max', 5.0)})"
        )
    template = values.pop("client_id", CLIENT_ID_TEMPLATE)
    return loaded.build(
        host=parts.hostname,
        port=port,
        transport=transport,
        tls=tls,
        ws_path=path or "/mqtt",
        client_id=expand_client_id(template, loaded.where("client_id")),
    )
