"""``xqueue pause TYPE`` and ``xqueue resume TYPE`` (:mod:`xqueue_core.pausing`)."""

from __future__ import annotations

from typing import Any

import click

from .common import backend_options, dump_json, json_option, load_app, run

APP_OPTION = click.option(
    "--app", "app_ref", metavar="APP", help="module:attribute of the app (optional)."
)


def _switch(
    task_type: str, paused: bool, app_ref: str | None, as_json: bool, options: dict[str, Any]
) -> None:
    app = load_app(app_ref, options)

    async def go() -> tuple[bool, dict[str, Any]]:
        async with app:
            changed = await (app.pause(task_type) if paused else app.resume(task_type))
            return changed, (await app.get_concurrency()).get(task_type, {})

    changed, state = run(go())
    if as_json:
        dump_json({"task_type": task_type, "paused": paused, "changed": changed, **state})
        return
    limit = state.get("max_concurrency")
    kept = f"its limit stays {limit}" if limit is not None else "it has no limit"
    if paused:
        running = state.get("running", 0)
        said = "paused" if changed else "was paused already"
        started = f"nothing new starts, {running} running will finish"
        click.echo(f"{task_type}: {said}; {started}; {kept}")
    else:
        said = "resumed" if changed else "was not paused"
        click.echo(f"{task_type}: {said}; {kept}")


@click.command()
@click.argument("task_type", metavar="TYPE")
@backend_options
@APP_OPTION
@json_option
def pause(task_type: str, app_ref: str | None, as_json: bool, **options: Any) -> None:
    """Stop tasks of TYPE from starting, on every worker and broker: running ones
    finish, other types flow, its concurrency limit is kept. Undo with resume."""
    _switch(task_type, True, app_ref, as_json, options)


@click.command()
@click.argument("task_type", metavar="TYPE")
@backend_options
@APP_OPTION
@json_option
def resume(task_type: str, app_ref: str | None, as_json: bool, **options: Any) -> None:
    """Let a paused TYPE start tasks again (as many at once as its limits let)."""
    _switch(task_type, False, app_ref, as_json, options)
