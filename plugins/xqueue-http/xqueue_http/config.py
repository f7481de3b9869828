"""Settings of the HTTP API: the ``[http]`` table, ``XQUEUE_HTTP_*`` variables, CLI flags.

Precedence: defaults < ``[http]`` table of the settings file < environment <
explicit overrides (command-line flags). Every bad value is refused with a
:class:`~xqueue_core.errors.SettingsError` naming the setting, the value and
where it came from. Tokens are never part of any message or ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xqueue_core.errors import SettingsError
from xqueue_core.sections import (
    Loaded,
    env_layers,
    explicit_layer,
    load_section,
    setting,
    settings_of,
    table_layer,
)
from xqueue_core.settings import Settings

ENV_PREFIX = "XQUEUE_HTTP_"
MAX_PAGE_SIZE = 1000  # the core's own bound for one listing


def _token_problem(token: str) -> str | None:
    if len(token) < 8 or token != token.strip():
        return "a token must be at least 8 characters without surrounding spaces"
    return None


def _origins_problem(origins: tuple[str, ...]) -> str | None:
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            return f"{origin!r} is not an origin like https://example.com"
    return None


def _root_path_problem(path: str) -> str | None:
    if path and (not path.startswith("/") or path.endswith("/")):
        return f"must start with '/' and not end with it, got {path!r}"
    return None


@dataclass(frozen=True, slots=True)
class HttpSettings:
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

    host: str = setting("127.0.0.1", nonempty=True)
    port: int = setting(8080, minimum=0, maximum=65535)
    read_token: str | None = setting(None, secret=True, blank_is_unset=True, check=_token_problem)
    admin_token: str | None = setting(None, secret=True, blank_is_unset=True, check=_token_problem)
    cors_origins: tuple[str, ...] = setting((), check=_origins_problem)
    max_body_bytes: int = setting(4 * 1024 * 1024, minimum=1)
    max_batch: int = setting(1000, minimum=1)
    max_page_size: int = setting(MAX_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE)
    request_timeout: float = setting(30.0, above=0)
    reaper: bool = setting(True)
    sse_keepalive: float = setting(15.0, above=0)
    event_buffer: int = setting(4096, minimum=1)
    history_tasks: int = setting(5000, minimum=1)
    root_path: str = setting("", check=_root_path_problem)
    access_log: bool = setting(False)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.read_token or self.admin_token)

    def replace(self, **changes: Any) -> HttpSettings:
        """A copy with some values changed (validated, source "command line")."""
        current = {name: getattr(self, name) for name in settings_of(HttpSettings)}
        return _build(load_section(HttpSettings, "http", [explicit_layer(changes)], base=current))


def _build(loaded: Loaded[HttpSettings]) -> HttpSettings:
    config = loaded.build()
    if config.read_token and config.read_token == config.admin_token:
        raise SettingsError("http settings 'read_token' and 'admin_token' must differ")
    return config


def load_settings(
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> HttpSettings:
    """Assemble the HTTP settings from the app's settings, the environment and flags."""
    env = os.environ if env is None else env
    table = settings.extra("http") if settings is not None else {}
    layers = [
        table_layer(table, "http"),
        *env_layers(env, ENV_PREFIX, HttpSettings),
        explicit_layer(overrides or {}),
    ]
    return _build(load_section(HttpSettings, "http", layers))
