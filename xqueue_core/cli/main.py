"""The ``xqueue`` command: core commands plus those plugins add."""

# ruff: noqa: E402
from __future__ import annotations

from ..logs import import_structlog

import_structlog()  # before anything else imports it, so it leaves rich out: see there

import sys
import traceback
from typing import Any

import click

from ..errors import BackendError, PluginError, UserError
from ..plugins import Plugins
from .commands import COMMANDS
from .common import setup_logging
from .demo import demo
from .pausing import pause, resume
from .presence import workers
from .rates import rate
from .replay import replay
from .schedules import schedule
from .workflows import workflow


class XQueueGroup(click.Group):
    """Root group: one-line errors for user mistakes, tracebacks only for bugs."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except BackendError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            ctx.exit(130)


@click.group(cls=XQueueGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    envvar="XQUEUE_LOG_LEVEL",
    help="Log level (default info).",
)
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    envvar="XQUEUE_LOG_FORMAT",
    help="Log lines for humans or JSON.",
)
@click.version_option(package_name="xqueue-core", prog_name="xqueue")
@click.pass_context
def cli(ctx: click.Context, log_level: str | None, log_format: str | None) -> None:
    """xqueue: a distributed task queue for Python.

    APP is module:attribute naming an XQueue object (as with uvicorn); without
    it, handlers come from installed handler packages. Backends are chosen by
    URL: --broker/--store/--notify or XQUEUE_BROKER/XQUEUE_STORE/XQUEUE_NOTIFY
    (default: the embedded sqlite:///xqueue.db).
    """
    setup_logging(ctx)


for command in [*COMMANDS, replay, pause, resume, workers, rate, schedule, workflow, demo]:
    cli.add_command(command)


def _add_plugin_commands() -> None:
    try:
        calls = list(Plugins().hooks.register_commands(cli))
    except PluginError:
        return  # every command that loads plugins reports it, once, as its error
    for plugin, call in calls:
        try:
            call()
        except Exception as exc:
            click.echo(
                f"warning: plugin {plugin!r} failed to add its commands: {exc}; "
                f"disable it with XQUEUE_DISABLE_PLUGINS={plugin}",
                err=True,
            )


def _command_name(argv: list[str]) -> str | None:
    """The subcommand ``argv`` names (skipping the root options), if any."""
    args = iter(argv)
    for arg in args:
        if arg in ("--log-level", "--log-format"):
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``xqueue`` script."""
    # A core command does not need the plugins' commands, nor the packages those import
    # (a web server for 'serve'): every worker process starts with 'worker'.
    if _command_name(sys.argv[1:] if argv is None else argv) not in cli.commands:
        _add_plugin_commands()
    try:
        code = cli.main(args=argv, prog_name="xqueue", standalone_mode=False)
    except click.UsageError as exc:  # bad flags or arguments: one line, like our own errors
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{where}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except SystemExit:
        raise
    except Exception:  # a bug, not a user mistake: show everything
        traceback.print_exc()
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
