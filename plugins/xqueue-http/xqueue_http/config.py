"""Settings of the HTTP API: the ``[http]`` table, ``XQUEUE_HTTP_*`` variables, CLI flags.

Precedence: defaults < ``[http]`` table of the settings file < environment <
explicit overrides (command-line flags). Every bad value is refused with a
:class:`~xqueue_core.errors.SettingsError` naming the setting, the value and
where it came from. Tokens are never part of any message or ``repr``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xqueue_core.errors import SettingsError
from xqueue_core.settings import Settings, coerce_value

ENV_PREFIX = "XQUEUE_HTTP_"
MAX_PAGE_SIZE = 1000  # the core's own bound for one listing


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """Everything configurable about the API server.

    :param host: address to bind; loopback by default, so nothing is exposed
        until you choose to.
    :param read_token: bearer token for read routes (GET); unset means reads
        are open. The admin token also grants reads.
    :param admin_token: bearer token for routes that change things (submit,
        cancel, set limits); unset means they need the read token when that is
        set, and nothing otherwise.
    :param cors_origins: origins allowed to call the API from a browser
        (``*`` for any); empty means no CORS headers at all.
    :param max_body_bytes: largest request body accepted (413 above it).
    :param max_batch: most tasks in one batch submit.
    :param max_page_size: largest ``limit`` of a listing.
    :param request_timeout: seconds an answer may take (backends retrying
        through an outage included); past it the answer is 503.
    :param reaper: run the store's upkeep (queue timeouts, expired leases)
        from the API process too, so it happens with no worker running.
    :param sse_keepalive: seconds between keep-alive comments on event streams.
    :param event_buffer: recent events kept in memory to resume streams.
    :param history_tasks: tasks whose event history the API keeps in memory.
    :param root_path: the path prefix when served behind a proxy under a sub-path.
    :param access_log: log one line per request (off by default: it costs).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    read_token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 4 * 1024 * 1024
    max_batch: int = 1000
    max_page_size: int = MAX_PAGE_SIZE
    request_timeout: float = 30.0
    reaper: bool = True
    sse_keepalive: float = 15.0
    event_buffer: int = 4096
    history_tasks: int = 5000
    root_path: str = ""
    access_log: bool = False

    @property
    def auth_enabled(self) -> bool:
        return bool(self.read_token or self.admin_token)

    def replace(self, **changes: Any) -> HttpConfig:
        """A copy with some values changed (validated, source "command line")."""
        merged = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        merged.update({k: v for k, v in changes.items() if v is not None})
        return _build(merged, dict.fromkeys(changes, "command line"))


_FIELDS = {f.name: f for f in dataclasses.fields(HttpConfig)}
_SECRET = {"read_token", "admin_token"}
_AT_LEAST_ONE = {"max_body_bytes", "max_batch", "max_page_size", "event_buffer", "history_tasks"}


def _coerce(name: str, value: Any, source: str) -> Any:
    shown = "<hidden>" if name in _SECRET else repr(value)
    where = f"http setting {name!r} (from {source})"
    return coerce_value(str(_FIELDS[name].type), value, where, shown)


def _validate(config: HttpConfig, sources: Mapping[str, str]) -> None:
    def where(name: str) -> str:
        return f"http setting {name!r} (from {sources.get(name, 'default')})"

    if not 0 <= config.port <= 65535:
        raise SettingsError(f"{where('port')}: must be 0-65535, got {config.port}")
    if not config.host.strip():
        raise SettingsError(f"{where('host')}: must not be empty")
    for name in _AT_LEAST_ONE:
        if getattr(config, name) < 1:
            raise SettingsError(f"{where(name)}: must be at least 1, got {getattr(config, name)}")
    if config.max_page_size > MAX_PAGE_SIZE:
        raise SettingsError(
            f"{where('max_page_size')}: must be at most {MAX_PAGE_SIZE}, got {config.max_page_size}"
        )
    for name in ("sse_keepalive", "request_timeout"):
        if getattr(config, name) <= 0:
            raise SettingsError(f"{where(name)}: must be greater than 0")
    for name in _SECRET:
        token = getattr(config, name)
        if token is not None and (len(token) < 8 or token != token.strip()):
            raise SettingsError(
                f"{where(name)}: a token must be at least 8 characters without surrounding spaces"
            )
    if config.read_token and config.read_token == config.admin_token:
        raise SettingsError("http settings 'read_token' and 'admin_token' must differ")
    for origin in config.cors_origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise SettingsError(
                f"{where('cors_origins')}: {origin!r} is not an origin like https://example.com"
            )
    if config.root_path and (
        not config.root_path.startswith("/") or config.root_path.endswith("/")
    ):
        raise SettingsError(
            f"{where('root_path')}: must start with '/' and not end with it, got "
            f"{config.root_path!r}"
        )


def _build(values: Mapping[str, Any], sources: Mapping[str, str]) -> HttpConfig:
    clean = {
        name: _coerce(name, value, sources.get(name, "default")) for name, value in values.items()
    }
    for name in _SECRET:
        if clean.get(name) == "":
            clean[name] = None
    config = HttpConfig(**clean)
    _validate(config, sources)
    return config


def load_config(
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> HttpConfig:
    """Assemble the HTTP settings from the app's settings, the environment and flags."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    table = settings.extra("http") if settings is not None else {}
    for key, value in table.items():
        if key not in _FIELDS:
            raise SettingsError(
                f"unknown http setting {key!r} in [http]; known: {', '.join(sorted(_FIELDS))}"
            )
        values[key] = value
        sources[key] = "settings file [http]"
    for name in _FIELDS:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = raw
            sources[name] = f"environment {ENV_PREFIX}{name.upper()}"
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in _FIELDS:
            raise SettingsError(f"unknown http setting {name!r}")
        values[name] = value
        sources[name] = "command line"
    return _build(values, sources)
