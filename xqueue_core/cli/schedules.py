"""``xqueue schedule add|list|show|pause|resume|delete|run``: periodic schedules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import click
import orjson

from ..errors import UserError
from ..schedules import CATCH_UP, OVERLAP, ScheduleState
from .common import backend_options, dump_json, json_option, with_app
from .display import table

if TYPE_CHECKING:
    from ..app import XQueue


@click.group()
def schedule() -> None:
    """Periodic schedules: cron or every N seconds, fired once per tick by the workers."""


def _timing(state: ScheduleState) -> str:
    s = state.schedule
    return f"cron {s.cron}" if s.cron is not None else f"every {s.every:g}s"


def _show(state: ScheduleState, as_json: bool) -> None:
    data = state.to_dict()
    if as_json:
        dump_json(data)
        return
    for key, value in data.items():
        if value not in (None, {}, ""):
            click.echo(
                f"{key}: {orjson.dumps(value).decode() if isinstance(value, dict) else value}"
            )


@schedule.command(name="add")
@click.argument("name")
@click.argument("task_type", metavar="TYPE")
@click.option("--cron", metavar="EXPR", help="5 fields, or 6 with seconds first.")
@click.option("--every", type=float, metavar="S", help="Every S seconds.")
@click.option("--payload", metavar="JSON", help="The tasks' payload (a JSON object).")
@click.option("--tz", default="UTC", show_default=True, help="IANA time zone of --cron.")
@click.option("--catch-up", type=click.Choice(CATCH_UP), default="one", show_default=True)
@click.option("--overlap", type=click.Choice(OVERLAP), default="allow", show_default=True)
@click.option("--jitter", type=float, default=0.0, metavar="S", help="Delay each task up to S.")
@click.option("--paused", is_flag=True, help="Add it paused.")
@backend_options
@json_option
def schedule_add(
    name: str,
    task_type: str,
    cron: str | None,
    every: float | None,
    payload: str | None,
    tz: str,
    catch_up: str,
    overlap: str,
    jitter: float,
    paused: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Add schedule NAME that submits a TYPE task on every tick."""
    body: Any = {}
    if payload is not None:
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise UserError(f"--payload is not valid JSON: {exc}") from None
    fields = {"cron": cron, "every": every, "payload": body, "tz": tz, "catch_up": catch_up}
    fields.update(overlap=overlap, jitter=jitter, enabled=not paused)
    state = with_app(options, lambda app: app.add_schedule(name, task_type, **fields))
    _show(state, as_json)


@schedule.command(name="list")
@backend_options
@json_option
def schedule_list(as_json: bool, **options: Any) -> None:
    """Every schedule with its next and last run."""
    states = with_app(options, lambda app: app.list_schedules())
    if as_json:
        dump_json([s.to_dict() for s in states])
        return
    table(
        ["name", "type", "when", "tz", "enabled", "next_run", "last_run", "last_task"],
        [
            [
                s.schedule.name,
                s.schedule.type,
                _timing(s),
                s.schedule.tz,
                "yes" if s.schedule.enabled else "paused",
                s.to_dict()["next_run"] or "-",
                s.to_dict()["last_run"] or "-",
                s.last_task_id or "-",
            ]
            for s in states
        ],
    )


def _one(verb: str, doc: str, call: Callable[[XQueue, str], Awaitable[Any]]) -> None:
    @schedule.command(name=verb, help=doc)
    @click.argument("name")
    @backend_options
    @json_option
    def command(name: str, as_json: bool, **options: Any) -> None:
        result = with_app(options, lambda app: call(app, name))
        if isinstance(result, ScheduleState):
            _show(result, as_json)
        elif result is None:
            if as_json:
                dump_json({"name": name, "deleted": True})
            else:
                click.echo(f"schedule {name} deleted")
        elif as_json:
            dump_json(result.to_dict())
        else:
            click.echo(f"{result.id} {result.type} (schedule {name})")


_one("show", "One schedule: its definition, next and last run.", lambda a, n: a.get_schedule(n))
_one("pause", "Stop a schedule's ticks until it is resumed.", lambda a, n: a.pause_schedule(n))
_one("resume", "Tick again from the next tick after now.", lambda a, n: a.resume_schedule(n))
_one("delete", "Remove a schedule (its tasks stay).", lambda a, n: a.delete_schedule(n))
_one("run", "Submit the schedule's task now, outside its ticks.", lambda a, n: a.run_schedule(n))
