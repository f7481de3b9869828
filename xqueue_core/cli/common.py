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
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

from .apps import import_app, load_app, setup_logging_from

if TYPE_CHECKING:
    from ..app import XQueue

__all__ = [
    "BACKEND_OPTION_NAMES",
    "app_argument",
    "backend_args",
    "backend_options",
    "dump_json",
    "import_app",
    "json_option",
    "load_app",
    "run",
    "setup_logging",
    "with_app",
]

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


def backend_args(options: Mapping[str, Any]) -> list[str]:
    """The :func:`backend_options` a command was given, as arguments for a child
    process of ``xqueue worker`` (see :func:`~xqueue_core.cli.supervisor.child_argv`)."""
    args: list[str] = []
    for name, flag in (("broker", "--broker"), ("store", "--store"), ("config_file", "--config")):
        if options.get(name):
            args += [flag, options[name]]
    for url in options.get("notify") or ():
        args += ["--notify", url]
    return args


def json_option(func: F) -> F:
    """``--json``: machine-readable output (the task JSON is the REST API's object)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine for a command."""
    return asyncio.run(coro)


def dump_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


def setup_logging(ctx: click.Context) -> None:
    """Configure structlog from the root options (``--log-level``, ``--log-format``)."""
    root = ctx.find_root()
    params = root.params if root is not None else {}
    setup_logging_from(params.get("log_level"), params.get("log_format"))


def with_app(options: dict[str, Any], call: Callable[[XQueue], Awaitable[T]]) -> T:
    """Open the app of the backend ``options`` (no APP: the announced types), run
    ``call`` with it, close it; what ``call`` returned."""
    app = load_app(None, options)

    async def go() -> T:
        async with app:
            return await call(app)

    return run(go())
