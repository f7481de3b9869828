"""Pieces shared by the CLI commands (and by plugin commands such as ``xqueue serve``).

A plugin command typically looks like::

    @cli.command()
    @app_argument
    @backend_options
    def serve(app_ref, **options):
        app = load_app(app_ref, options)
        ...
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import click
import orjson

from ..app import XQueue
from ..errors import SettingsError, UserError
from ..logs import configure_logging

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

BACKEND_OPTION_NAMES = ("broker", "store", "notify")


def app_argument(func: F) -> F:
    """The optional ``APP`` argument: ``module:attribute`` naming an XQueue object."""
    return click.argument("app_ref", metavar="[APP]", required=False)(func)


def backend_options(func: F) -> F:
    """``--broker``, ``--store``, ``--notify`` (repeatable) and ``--config``."""
    for decorator in reversed(
        [
            click.option(
                "--broker", help="Broker URL (default $XQUEUE_BROKER or sqlite).", metavar="URL"
            ),
            click.option(
                "--store", help="Store URL (default $XQUEUE_STORE or sqlite).", metavar="URL"
            ),
            click.option(
                "--notify",
                multiple=True,
                metavar="URL",
                help="Notifier URL; repeat for several (default $XQUEUE_NOTIFY).",
            ),
            click.option(
                "--config",
                "config_file",
                metavar="FILE",
                type=click.Path(dir_okay=False),
                help="Settings file (default $XQUEUE_CONFIG or ./xqueue.toml).",
            ),
        ]
    ):
        func = decorator(func)
    return func


def json_option(func: F) -> F:
    """``--json``: machine-readable output (the task JSON is the REST API's object)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


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
    if options.get("config_file"):
        from ..settings import load_settings

        base = load_settings(config_file=options["config_file"])
        app._settings = base
    app.configure(**changes)
    return app


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine for a command."""
    return asyncio.run(coro)


def dump_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


def setup_logging(ctx: click.Context) -> None:
    """Configure structlog from the root options (``--log-level``, ``--log-format``)."""
    root = ctx.find_root()
    params = root.params if root is not None else {}
    level = params.get("log_level") or os.environ.get("XQUEUE_LOG_LEVEL")
    fmt = params.get("log_format") or os.environ.get("XQUEUE_LOG_FORMAT")
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
