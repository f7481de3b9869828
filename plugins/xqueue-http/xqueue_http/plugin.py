"""The module the ``xqueue`` entry point names: CLI commands and a settings check."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xqueue_core import hookimpl
from xqueue_core.settings import Settings

from .config import load_settings

if TYPE_CHECKING:  # click is imported by the CLI only: a worker loading plugins skips it
    import click


@hookimpl
def xqueue_register_commands(cli: click.Group) -> None:
    """Add ``xqueue serve`` and ``xqueue api``."""
    from .cli import api, serve

    cli.add_command(serve)
    cli.add_command(api)


@hookimpl
def xqueue_configure(settings: Settings) -> None:
    """Refuse a bad ``[http]`` table or ``XQUEUE_HTTP_*`` variable at start."""
    load_settings(settings)
