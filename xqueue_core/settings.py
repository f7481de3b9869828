"""Settings: defaults < TOML file < ``XQUEUE_*`` environment < explicit overrides (CLI flags).

Every value is validated with a message naming the setting, the bad value and
where it came from. Tables in the TOML file (``[mqtt]``, ``[http]`` ...) are
kept in :attr:`Settings.extras` for plugins to read.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import SettingsError

DEFAULT_URL = "sqlite:///xqueue.db"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about an xqueue app, its workers and backends."""

    broker: str = DEFAULT_URL
    store: str = DEFAULT_URL
    notify: tuple[str, ...] = ()
    concurrency: int = 10
    processes: int = 1
    lease_ttl: float = 15.0
    heartbeat_interval: float = 0.5
    grace_period: float = 30.0
    result_ttl: float = 7 * 24 * 3600.0
    max_payload_bytes: int = 1024 * 1024
    retry_backoff: float = 1.0
    retry_backoff_max: float = 300.0
    retry_jitter: bool = True
    max_redeliveries: int = 5
    publish_grace: float = 10.0
    republish_after: float = 0.0
    priority_fairness: int = 10
    maintenance_interval: float = 0.25
    process_executor_workers: int = 2
    log_level: str = "info"
    log_format: str = "console"
    extras: Mapping[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (validated)."""
        merged = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        merged.update(changes)
        return _build(merged, dict.fromkeys(changes, "argument"))

    def extra(self, section: str) -> Mapping[str, Any]:
        """A plugin's own table from the settings file (empty when absent)."""
        value = self.extras.get(section, {})
        return value if isinstance(value, Mapping) else {}


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name != "extras"}
_POSITIVE = {"lease_ttl", "heartbeat_interval", "maintenance_interval", "retry_backoff"}
_NON_NEGATIVE = {
    "grace_period",
    "result_ttl",
    "retry_backoff_max",
    "max_redeliveries",
    "publish_grace",
    "republish_after",
}
_AT_LEAST_ONE = {
    "concurrency",
    "processes",
    "max_payload_bytes",
    "priority_fairness",
    "process_executor_workers",
}
_CHOICES = {
    "log_level": ("debug", "info", "warning", "error"),
    "log_format": ("console", "json"),
}


def coerce_value(kind: str, value: Any, where: str, shown: str | None = None) -> Any:
    """Convert a raw setting (from TOML, the environment or a flag) to ``kind``.

    :param kind: the field's annotation: ``bool``, ``int``, ``float``,
        ``tuple[str, ...]`` or ``str``, optionally ``| None``.
    :param where: names the setting and its source in the error message.
    :param shown: how to show the value in the message (e.g. hidden for a secret).

    Raises :class:`SettingsError` with the expected form. Plugins with settings
    of their own use it too, so every setting reads and fails the same way.
    """
    try:
        if value is None and "None" in kind:
            return None
        if kind.startswith("bool"):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind.startswith("int"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind.startswith("float"):
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError
            return number
        if kind.startswith("tuple[str, ...]"):
            if isinstance(value, str):
                return tuple(part.strip() for part in value.split(",") if part.strip())
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError):
        expected = {
            "bool": "true or false",
            "int": "a whole number",
            "float": "a number",
            "tuple[str, ...]": "a comma-separated list",
        }.get(kind.split(" |")[0], "a string")
        raise SettingsError(
            f"{where}: expected {expected}, got {shown if shown is not None else repr(value)}"
        ) from None


def _coerce(name: str, value: Any, source: str) -> Any:
    return coerce_value(str(_FIELDS[name].type), value, f"setting {name!r} (from {source})")


def check_url(name: str, url: str, source: str = "argument") -> str:
    """Check that ``url`` has the form ``scheme://...``; return it unchanged."""
    parts = urlsplit(url)
    if not parts.scheme or "://" not in url:
        raise SettingsError(
            f"setting {name!r} (from {source}): {url!r} is not a URL like 'scheme://host:port'"
        )
    # Several hosts (kafka://a:9092,b:9092): check each one's port on its own.
    hosts = parts.netloc.rpartition("@")[2].split(",")
    for host in hosts:
        try:
            urlsplit("//" + host).port  # noqa: B018 - raises on a non-numeric port
        except ValueError:
            raise SettingsError(
                f"setting {name!r} (from {source}): {url!r} has an invalid port in {host!r}"
            ) from None
    return url


def _validate(name: str, value: Any, source: str) -> None:
    where = f"setting {name!r} (from {source})"
    if name in _POSITIVE and value <= 0:
        raise SettingsError(f"{where}: must be greater than 0, got {value!r}")
    if name in _NON_NEGATIVE and value < 0:
        raise SettingsError(f"{where}: must not be negative, got {value!r}")
    if name in _AT_LEAST_ONE and value < 1:
        raise SettingsError(f"{where}: must be at least 1, got {value!r}")
    if name in _CHOICES and value not in _CHOICES[name]:
        raise SettingsError(f"{where}: must be one of {', '.join(_CHOICES[name])}, got {value!r}")
    if name in ("broker", "store"):
        check_url(name, value, source)
    if name == "notify":
        for url in value:
            check_url(name, url, source)


def _build(values: Mapping[str, Any], sources: Mapping[str, str]) -> Settings:
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name == "extras":
            clean[name] = dict(value)
            continue
        source = sources.get(name, "default")
        coerced = _coerce(name, value, source)
        _validate(name, coerced, source)
        clean[name] = coerced
    settings = Settings(**clean)
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
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    extras: dict[str, Any] = {}

    path: Path | None = None
    if config_file is not None:
        path = Path(config_file)
    elif env.get("XQUEUE_CONFIG"):
        path = Path(env["XQUEUE_CONFIG"])
    elif Path("xqueue.toml").is_file():
        path = Path("xqueue.toml")
    if path is not None:
        for key, value in _read_file(path).items():
            if isinstance(value, dict):
                extras[key] = value
            elif key in _FIELDS:
                values[key] = value
                sources[key] = f"file {path}"
            else:
                raise SettingsError(
                    f"settings file {str(path)!r}: unknown setting {key!r}; "
                    f"known settings: {', '.join(sorted(_FIELDS))}"
                )

    for name in _FIELDS:
        raw = env.get(f"XQUEUE_{name.upper()}")
        if raw is not None and raw != "":
            values[name] = raw
            sources[name] = f"environment XQUEUE_{name.upper()}"

    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in _FIELDS:
            raise SettingsError(f"unknown setting {name!r}")
        values[name] = value
        sources[name] = "command line" if overrides else "argument"

    values["extras"] = extras
    return _build(values, sources)


def setting_names() -> list[str]:
    """Every setting's name, for docs and error messages."""
    return sorted(_FIELDS)
