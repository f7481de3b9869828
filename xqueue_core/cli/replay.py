"""``xqueue replay``: run dead tasks again (:mod:`xqueue_core.replay`)."""

from __future__ import annotations

from typing import Any

import click

from ..errors import ValidationError
from ..replay import ReplayFilter
from .common import backend_options, dump_json, json_option, load_app, run


@click.command()
@click.argument("task_id", metavar="[ID]", required=False)
@click.option("--type", "task_type", metavar="TYPE", help="Dead tasks of TYPE.")
@click.option("--status", type=click.Choice(["failed", "timeout"]), help="Only this end.")
@click.option("--error-contains", metavar="TEXT", help="Whose error contains TEXT.")
@click.option("--since", metavar="TIME", help="Ended at or after TIME (ISO 8601).")
@click.option("--until", metavar="TIME", help="Ended at or before TIME (ISO 8601).")
@click.option("--limit", type=int, metavar="N", help="At most N tasks.")
@click.option("--all", "everything", is_flag=True, help="Every dead task (no filter).")
@click.option("--dry-run", is_flag=True, help="Only count what would be replayed.")
@backend_options
@json_option
def replay(
    task_id: str | None,
    task_type: str | None,
    status: str | None,
    error_contains: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
    everything: bool,
    dry_run: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Run a dead task (ended failed or timeout) again as a new task with the same
    type, payload and options, or every dead task a filter takes. Replaying a task
    twice makes one new task: the second time answers the first replay."""
    filters = {
        "type": task_type,
        "status": status,
        "error_contains": error_contains,
        "since": since,
        "until": until,
        "limit": limit,
    }
    given = {k: v for k, v in filters.items() if v is not None}
    if task_id is not None:
        if given or everything or dry_run:
            raise ValidationError("give a task ID or a filter, not both")
        app = load_app(None, options)

        async def one() -> tuple[Any, bool]:
            async with app:
                return await app.replay(task_id)

        task, made = run(one())
        if as_json:
            dump_json({"replay_of": task_id, "created": made, "task": task.to_dict()})
        elif made:
            click.echo(f"{task_id} replayed as {task.id} ({task.status})")
        else:
            click.echo(f"{task_id} was replayed before, as {task.id} ({task.status})")
        return
    chosen = ReplayFilter.check({**given, "all": everything})
    app = load_app(None, options)

    async def many() -> Any:
        async with app:
            return await app.replay_many(chosen, dry_run)

    report = run(many())
    if as_json:
        dump_json(report.to_dict())
    elif dry_run:
        click.echo(f"{report.matched} dead task(s) would be replayed (dry run: none was)")
    else:
        already = len(report.tasks) - report.replayed
        note = f" ({already} replayed meanwhile by someone else)" if already else ""
        click.echo(f"{report.matched} dead task(s) matched, {report.replayed} replayed{note}")
