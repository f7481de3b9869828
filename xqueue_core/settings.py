"""Settings: defaults < TOML file < ``XQUEUE_*`` environment < explicit overrides (CLI flags).

Every value is validated with a message naming the setting, the bad value and
where it came from. Tables in the TOML file (``[mqtt]``, ``[http]`` ...) are
kept in :attr:`Settings.extras` for plugins to read.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import SettingsError
from .sections import Layer, Loaded, env_layers, explicit_layer, load_section, setting, settings_of

DEFAULT_URL = "sqlite:///xqueue.db"


def _url_problem(url: str) -> str | None:
    """What is wrong with a backend URL, or ``None``: ``scheme://`` and numeric ports."""
    parts = urlsplit(url)
    if not parts.scheme or "://" not in url:
        return f"{url!r} is not a URL like 'scheme://host:port'"
    # Several hosts (kafka://a:9092,b:9092): check each one's port on its own.
    for host in parts.netloc.rpartition("@")[2].split(","):
        try:
            urlsplit("//" + host).port  # noqa: B018 - raises on a non-numeric port
        except ValueError:
            return f"{url!r} has an invalid port in {host!r}"
    return None


def _urls_problem(urls: tuple[str, ...]) -> str | None:
    return next((p for p in map(_url_problem, urls) if p is not None), None)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about an xqueue app, its workers and backends.

    Built directly (``Settings(concurrency=4)``) nothing is checked; use
    :func:`load_settings` or :meth:`replace` for checked values.
    """

    broker: str = setting(DEFAULT_URL, check=_url_problem)
    store: str = setting(DEFAULT_URL, check=_url_problem)
    notify: tuple[str, ...] = setting((), check=_urls_problem)
    concurrency: int = setting(10, minimum=1)
    processes: int = setting(1, minimum=1)
    lease_ttl: float = setting(15.0, above=0)
    heartbeat_interval: float = setting(0.5, above=0)
    grace_period: float = setting(30.0, minimum=0)
    result_ttl: float = setting(7 * 24 * 3600.0, minimum=0)
    dead_ttl: float = setting(14 * 24 * 3600.0, minimum=0)  # failed/timeout: kept to replay
    max_payload_bytes: int = setting(1024 * 1024, minimum=1)
    retry_backoff: float = setting(1.0, above=0)
    retry_backoff_max: float = setting(300.0, minimum=0)
    retry_jitter: bool = setting(True)
    max_redeliveries: int = setting(5, minimum=0)
    publish_grace: float = setting(10.0, minimum=0)
    republish_after: float = setting(0.0, minimum=0)
    priority_fairness: int = setting(10, minimum=1)
    maintenance_interval: float = setting(0.25, above=0)
    process_executor_workers: int = setting(2, minimum=1)
    log_level: str = setting("info", choices=("debug", "info", "warning", "error"))
    log_format: str = setting("console", choices=("console", "json"))
    extras: Mapping[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (validated)."""
        extras = changes.pop("extras", self.extras)
        current = {name: getattr(self, name) for name in _FIELDS}
        loaded = load_section(Settings, None, [("argument", changes)], base=current)
        return _build(loaded, extras)

    def extra(self, section: str) -> Mapping[str, Any]:
        """A plugin's own table from the settings file (empty when absent)."""
        value = self.extras.get(section, {})
        return value if isinstance(value, Mapping) else {}


_FIELDS = settings_of(Settings)


def check_url(name: str, url: str, source: str = "argument") -> str:
    """Check that ``url`` has the form ``scheme://...``; return it unchanged."""
    problem = _url_problem(url)
    if problem is not None:
        raise SettingsError(f"setting {name!r} (from {source}): {problem}")
    return url


def _build(loaded: Loaded[Settings], extras: Mapping[str, Any]) -> Settings:
    settings = loaded.build(extras=dict(extras))
    if settings.heartbeat_interval >= settings.lease_ttl:
        raise SettingsError(
            f"setting 'heartbeat_interval' ({settings.heartbeat_interval}) must be shorter "
            f"than 'lease_ttl' ({settings.lease_ttl}), or leases expire between renewals"
        )
    return settings


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(f"settings file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {str(path)!r} is not valid TOML: {exc}") from None
    if "xqueue" not in data:
        return data
    section = data["xqueue"]
    if not isinstance(section, dict):
        raise SettingsError(f"settings file {str(path)!r}: [xqueue] must be a table")
    # Plugin tables may sit beside [xqueue] ([mqtt]) or inside it ([xqueue.mqtt]).
    siblings = {k: v for k, v in data.items() if k != "xqueue" and isinstance(v, dict)}
    stray = [k for k, v in data.items() if k != "xqueue" and not isinstance(v, dict)]
    if stray:
        raise SettingsError(
            f"settings file {str(path)!r}: {', '.join(stray)} must go inside [xqueue]"
        )
    return {**siblings, **section}


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Assemble settings from their sources and validate them.

    :param config_file: a TOML file; by default ``$XQUEUE_CONFIG``, else
        ``./xqueue.toml`` when it exists. Keys may sit at top level or in ``[xqueue]``.
    :param env: the environment to read ``XQUEUE_*`` from (default ``os.environ``).
    :param overrides: explicit values (CLI flags); ``None`` values are ignored.
    """
    env = os.environ if env is None else env
    layers: list[Layer] = []
    extras: dict[str, Any] = {}

    path: Path | None = None
    if config_file is not None:
        path = Path(config_file)
    elif env.get("XQUEUE_CONFIG"):
        path = Path(env["XQUEUE_CONFIG"])
    elif Path("xqueue.toml").is_file():
        path = Path("xqueue.toml")
    if path is not None:
        values: dict[str, Any] = {}
        for key, value in _read_file(path).items():
            if isinstance(value, dict):
                extras[key] = value
            elif key in _FIELDS:
                values[key] = value
            else:
                raise SettingsError(
                    f"settings file {str(path)!r}: unknown setting {key!r}; "
                    f"known settings: {', '.join(sorted(_FIELDS))}"
                )
        layers.append((f"file {path}", values))
    layers += env_layers(env, "XQUEUE_", Settings)
    layers.append(explicit_layer(overrides or {}))
    return _build(load_section(Settings, None, layers), extras)


def setting_names() -> list[str]:
    """Every setting's name, for docs and error messages."""
    return sorted(_FIELDS)
