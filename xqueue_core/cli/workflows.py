"""``xqueue workflow status|cancel ID``: a workflow's members and what they add up to."""

from __future__ import annotations

from typing import Any

import click

from ..workflows import WorkflowState
from .common import backend_options, dump_json, json_option, with_app
from .display import status_text, table


@click.group()
def workflow() -> None:
    """Workflows: chains, groups, chords and DAGs of tasks (see docs/workflows.md)."""


def _show(state: WorkflowState, as_json: bool) -> None:
    if as_json:
        dump_json(state.to_dict())
        return
    counts = ", ".join(f"{n} {s}" for s, n in sorted(state.counts().items()))
    click.echo(f"workflow {state.id}: {status_text(state.status)} ({counts})")
    table(
        ["task", "type", "status", "waits for", "error"],
        [
            [
                t.id,
                t.type,
                status_text(str(t.status)),
                str(len(t.depends_on or [])) if t.depends_on else "-",
                t.error or "",
            ]
            for t in state.tasks
        ],
    )


@workflow.command(name="status")
@click.argument("workflow_id", metavar="ID")
@backend_options
@json_option
def workflow_status(workflow_id: str, as_json: bool, **options: Any) -> None:
    """The members of workflow ID with their statuses, and its own status."""
    _show(with_app(options, lambda app: app.get_workflow(workflow_id)), as_json)


@workflow.command(name="cancel")
@click.argument("workflow_id", metavar="ID")
@backend_options
@json_option
def workflow_cancel(workflow_id: str, as_json: bool, **options: Any) -> None:
    """Cancel every member of workflow ID that has not ended."""
    _show(with_app(options, lambda app: app.cancel_workflow(workflow_id)), as_json)
