"""Loading the app and setting up logging, for the CLI commands and for worker
processes, which run without click (see :mod:`xqueue_core.cli.worker_process`)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from typing import Any

from ..app import XQueue
from ..errors import SettingsError, UserError
from ..logs import configure_logging


def import_app(ref: str) -> XQueue:
    """Import ``module:attribute`` (the current directory is importable, as with uvicorn)."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise UserError(f"APP must look like 'module:attribute', got {ref!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UserError(f"cannot import module {module_name!r} (from APP {ref!r})") from None
        raise
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"module {module_name!r} has no attribute {attr!r} (from APP {ref!r})")
        obj = getattr(obj, part)
    if not isinstance(obj, XQueue):
        raise UserError(f"{ref!r} is a {type(obj).__name__}, not an XQueue app")
    return obj


def load_app(app_ref: str | None, options: Mapping[str, Any], **settings: Any) -> XQueue:
    """The app named by APP (or a plain one using installed handler packages),
    with the backend options and any other settings applied."""
    app = import_app(app_ref) if app_ref else XQueue()
    changes: dict[str, Any] = {k: v for k, v in settings.items() if v is not None}
    for name in ("broker", "store"):
        if options.get(name):
            changes[name] = options[name]
    if options.get("notify"):
        changes["notify"] = tuple(options["notify"])
    base = None
    if options.get("config_file"):
        from ..settings import load_settings

        base = load_settings(config_file=options["config_file"])
    app.configure(base, **changes)
    return app


def worker_types(app: XQueue, types: str | None) -> list[str] | None:
    """The task types ``--types`` names (None: all); a user error if the app has no
    handlers or none for one of them."""
    if not app.handlers:
        raise UserError(
            "no task handlers: give APP (module:attribute) or install a handler package"
        )
    task_types = [t.strip() for t in types.split(",") if t.strip()] if types else None
    unknown = [t for t in task_types or [] if t not in app.handlers]
    if unknown:
        raise UserError(
            f"no handler for type(s) {', '.join(unknown)}; registered: "
            f"{', '.join(sorted(app.handlers))}"
        )
    return task_types


def setup_logging_from(level: str | None, fmt: str | None) -> None:
    """Configure structlog: the given level and format, else ``XQUEUE_LOG_LEVEL`` /
    ``XQUEUE_LOG_FORMAT``, else the settings file, else info and console."""
    level = level or os.environ.get("XQUEUE_LOG_LEVEL")
    fmt = fmt or os.environ.get("XQUEUE_LOG_FORMAT")
    if level is None or fmt is None:
        from ..settings import load_settings

        try:  # the settings file may set them; a bad file is reported by the command
            file_settings = load_settings()
        except SettingsError:
            file_settings = None
        level = level or (file_settings.log_level if file_settings else "info")
        fmt = fmt or (file_settings.log_format if file_settings else "console")
    if level not in ("debug", "info", "warning", "error"):
        raise SettingsError(f"log level must be debug, info, warning or error, got {level!r}")
    if fmt not in ("console", "json"):
        raise SettingsError(f"log format must be console or json, got {fmt!r}")
    configure_logging(level, fmt)
    # Worker processes started from here log the same way.
    os.environ["XQUEUE_LOG_LEVEL"], os.environ["XQUEUE_LOG_FORMAT"] = level, fmt
