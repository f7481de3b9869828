"""The core CLI commands: worker, submit, status, cancel, list, stats, concurrency, plugins."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

from ..errors import UserError
from ..models import Task, TaskStatus
from ..plugins import Plugins
from ..validation import SUBMIT_OPTIONS
from .apps import worker_types
from .common import (
    app_argument,
    backend_args,
    backend_options,
    dump_json,
    json_option,
    load_app,
    run,
)
from .display import Progress, short_time, show_task, status_text, table
from .supervisor import child_argv, exec_supervisor, run_worker

if TYPE_CHECKING:
    from ..app import XQueue

T = TypeVar("T")


@click.command()
@app_argument
@backend_options
@click.option("--concurrency", "-c", type=click.IntRange(min=1), help="Tasks at once per process.")
@click.option(
    "--processes",
    "-p",
    type=click.IntRange(min=1),
    help="Worker processes to start (default: the 'processes' setting, 1).",
)
@click.option("--types", help="Comma-separated task types to run (default: all registered).")
def worker(
    app_ref: str | None,
    concurrency: int | None,
    processes: int | None,
    types: str | None,
    **options: Any,
) -> None:
    """Run workers for APP's task types (or installed handler packages)."""
    app = load_app(app_ref, options, concurrency=concurrency, processes=processes)
    processes = app.settings.processes
    task_types = worker_types(app, types)
    if processes > 1:
        run(_preflight(app))  # a bad URL fails here once, not in a restart loop of children
        args = backend_args(options)
        if concurrency:
            args += ["--concurrency", str(concurrency)]
        if types:
            args += ["--types", types]
        exec_supervisor(child_argv(app_ref, args), processes)
    run(run_worker(app, concurrency, task_types))


async def _preflight(app: Any) -> None:
    """Open and close the app's backends: settings, plugins and services are usable."""
    async with app:
        pass


def _parse_payload(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise UserError(f"PAYLOAD_JSON is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UserError(f"PAYLOAD_JSON must be a JSON object, got {type(value).__name__}")
    return value


async def _wait(app: Any, task: Task, as_json: bool, timeout: float | None) -> Task:
    progress = Progress(f"{task.type} {task.id}")

    def changed(t: Task) -> None:
        if not as_json:
            pct = f" {t.progress:.0%}" if t.progress is not None else ""
            retry = f" retry {t.retry}" if t.retry else ""
            progress.update(detail=f"{status_text(t.status)}{pct}{retry}", force=True)

    try:
        return await app.wait(task.id, timeout=timeout, on_change=changed)  # type: ignore[no-any-return]
    except TimeoutError as exc:
        raise UserError(str(exc)) from None
    finally:
        progress.finish()


@click.command()
@click.argument("task_type", metavar="TYPE")
@click.argument("payload", metavar="[PAYLOAD_JSON]", required=False)
@backend_options
@click.option("--app", "app_ref", metavar="APP", help="module:attribute of the app (optional).")
@click.option("--priority", type=int, help="Higher runs first.")
@click.option("--max-retry", type=int, help="Attempts after the first failure.")
@click.option("--queue-timeout", type=float, metavar="S", help="Give up if not started within S.")
@click.option("--process-timeout", type=float, metavar="S", help="Stop a run after S seconds.")
@click.option("--delay", type=float, metavar="S", help="Start no earlier than S seconds from now.")
@click.option("--eta", metavar="TIME", help="Start no earlier than this ISO 8601 time.")
@click.option("--idempotency-key", metavar="K", help="A second submit with K returns the first.")
@click.option("--key", metavar="K", help="The flow key (a tenant...), for per-key limits.")
@click.option(
    "--debounce", type=float, metavar="S", help="Collapse submits of the key within S seconds."
)
@click.option("--debounce-max", type=float, metavar="S", help="With --debounce: start within S.")
@click.option(
    "--depends-on", multiple=True, metavar="ID", help="Wait for task ID to end (repeatable)."
)
@click.option(
    "--on-parent-failure",
    type=click.Choice(["cancel", "run"]),
    help="With --depends-on: a parent that did not succeed cancels this task (default), or not.",
)
@click.option("--wait", "wait_", is_flag=True, help="Wait for the outcome, showing progress.")
@click.option("--timeout", type=float, metavar="S", help="With --wait: give up after S seconds.")
@json_option
def submit(
    task_type: str,
    payload: str | None,
    app_ref: str | None,
    wait_: bool,
    timeout: float | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Submit a task of TYPE with an optional JSON object payload."""
    body = _parse_payload(payload)
    options["depends_on"] = list(options["depends_on"]) or None
    submit_options = {k: options.pop(k) for k in SUBMIT_OPTIONS if options.get(k) is not None}
    app = load_app(app_ref, options)

    async def go() -> Task:
        async with app:
            task = await app.submit(task_type, body, **submit_options)
            if wait_:
                task = await _wait(app, task, as_json, timeout)
            return task

    task = run(go())
    if as_json:
        dump_json(task.to_dict())
    elif wait_:
        show_task(task)
    else:
        click.echo(task.id)
    if wait_ and task.status != TaskStatus.SUCCESS:
        raise SystemExit(1)


@click.command()
@click.argument("task_id", metavar="ID")
@backend_options
@click.option("--wait", "wait_", is_flag=True, help="Wait until it finishes.")
@click.option("--timeout", type=float, metavar="S", help="With --wait: give up after S seconds.")
@json_option
def status(task_id: str, wait_: bool, timeout: float | None, as_json: bool, **options: Any) -> None:
    """Show a task."""
    app = load_app(None, options)

    async def go() -> Task:
        async with app:
            task = await app.get(task_id)
            if wait_ and not task.terminal:
                task = await _wait(app, task, as_json, timeout)
            return task

    task = run(go())
    if as_json:
        dump_json(task.to_dict())
    else:
        show_task(task)
    if wait_ and task.status != TaskStatus.SUCCESS:
        raise SystemExit(1)


@click.command()
@click.argument("task_id", metavar="ID")
@backend_options
@json_option
def cancel(task_id: str, as_json: bool, **options: Any) -> None:
    """Cancel a task (pending: never runs; running: stopped within a second)."""
    app = load_app(None, options)

    async def go() -> Task:
        async with app:
            return await app.cancel(task_id)

    task = run(go())
    if as_json:
        dump_json(task.to_dict())
    elif task.status == TaskStatus.CANCELED:
        click.echo(f"{task.id} canceled")
    else:
        click.echo(f"{task.id} is running; cancel requested")


@click.command(name="list")
@backend_options
@click.option(
    "--status",
    "status_",
    metavar="S",
    type=click.Choice([s.value for s in TaskStatus]),
    help="Only this status.",
)
@click.option("--type", "task_type", metavar="T", help="Only this task type.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--cursor", help="Continue after this id (from the previous page).")
@json_option
def list_(
    status_: str | None,
    task_type: str | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
    **options: Any,
) -> None:
    """List tasks, newest first."""
    app = load_app(None, options)

    async def go() -> Any:
        async with app:
            return await app.list(status=status_, type=task_type, limit=limit, cursor=cursor)

    page = run(go())
    if as_json:
        dump_json({"tasks": [t.to_dict() for t in page.tasks], "next_cursor": page.next_cursor})
        return
    table(
        ["id", "type", "status", "retry", "priority", "created", "error"],
        [
            [
                t.id,
                t.type,
                t.status,
                t.retry,
                t.priority,
                short_time(t.created_at),
                (t.error or "")[:40],
            ]
            for t in page.tasks
        ],
    )
    if page.next_cursor:
        click.echo(f"more: --cursor {page.next_cursor}")


@click.command()
@backend_options
@json_option
def stats(as_json: bool, **options: Any) -> None:
    """Counts by status and type, tokens in use, limits, broker numbers."""
    app = load_app(None, options)

    async def go() -> dict[str, Any]:
        async with app:
            return await app.stats()

    data = run(go())
    if as_json:
        dump_json(data)
        return
    click.echo(f"tasks: {data['total']}")
    table(["status", "count"], sorted(data["by_status"].items()))
    if data["by_type"]:
        paused = set(data["paused"])
        table(
            ["type", "tasks", "running", "limit", "paused"],
            [
                [
                    t,
                    n,
                    data["running"].get(t, 0),
                    data["limits"].get(t, "-"),
                    "yes" if t in paused else "-",
                ]
                for t, n in sorted(data["by_type"].items())
            ],
        )
    for key, value in data["broker"].items():
        click.echo(f"broker {key}: {value}")


@click.group()
def concurrency() -> None:
    """Read or set per-type global concurrency limits."""


@concurrency.command(name="get")
@click.option("--keys", "keys_of", metavar="TYPE", help="The busiest flow keys of TYPE instead.")
@click.option("--top", type=click.IntRange(1, 1000), default=20, help="With --keys: how many.")
@backend_options
@json_option
def concurrency_get(keys_of: str | None, top: int, as_json: bool, **options: Any) -> None:
    """Limits and tokens in use, per task type (or per flow key of one type)."""
    app = load_app(None, options)
    if keys_of is not None:
        usage = run(_with(app, app.key_usage(keys_of, top)))
        rows = [dataclasses.asdict(u) for u in usage]
        if as_json:
            dump_json(rows)
        else:
            table(
                ["key", "running", "limit", "waiting"],
                [[u.key, u.running, _limit(u.limit), u.waiting] for u in usage],
            )
        return
    data = run(_with(app, app.get_concurrency()))
    if as_json:
        dump_json(data)
    else:
        table(
            ["type", "running", "max_concurrency", "per_key", "keys", "weights", "paused"],
            [
                [
                    t,
                    v["running"],
                    _limit(v["max_concurrency"]),
                    _limit(v["per_key"]),
                    ", ".join(f"{k}={n}" for k, n in sorted(v["keys"].items())) or "-",
                    ", ".join(f"{k}={n}" for k, n in sorted(v["weights"].items())) or "-",
                    "yes" if v["paused"] else "-",
                ]
                for t, v in data.items()
            ],
        )


def _limit(value: int | None) -> str | int:
    return "unlimited" if value is None else value


async def _with(app: XQueue, call: Awaitable[T]) -> T:
    async with app:
        return await call


@concurrency.command(name="set", context_settings={"ignore_unknown_options": True})
@click.argument("task_type", metavar="TYPE")
@click.argument("limit", metavar="N")
@click.option("--key", metavar="K", help="Set the limit of one flow key of TYPE.")
@click.option("--per-key", is_flag=True, help="Set the default limit of every key of TYPE.")
@backend_options
@json_option
def concurrency_set(
    task_type: str, limit: str, key: str | None, per_key: bool, as_json: bool, **options: Any
) -> None:
    """Set TYPE's cluster-wide limit to N (a number, or 'none' to remove it); with --key
    or --per-key, the limit of one flow key or of every key of TYPE."""
    value: int | None
    if limit.lower() in ("none", "unlimited"):
        value = None
    else:
        try:
            value = int(limit)
        except ValueError:
            raise UserError(f"N must be a whole number >= 0 or 'none', got {limit!r}") from None
    app = load_app(None, options)

    async def go() -> dict[str, Any]:
        async with app:
            await app.set_concurrency(task_type, value, key=key, per_key=per_key)
            return dict((await app.get_concurrency())[task_type])

    data = run(go())
    if as_json:
        dump_json({"task_type": task_type, **data})
        return
    shown = _limit(value)
    if key is not None:
        click.echo(f"{task_type} key {key}: max_concurrency={shown}")
    elif per_key:
        click.echo(f"{task_type}: per-key max_concurrency={shown}")
    else:
        click.echo(f"{task_type}: max_concurrency={shown} (running {data['running']})")


@concurrency.command(name="weight")
@click.argument("task_type", metavar="TYPE")
@click.argument("key", metavar="KEY")
@click.argument("weight", metavar="W")
@backend_options
@json_option
def concurrency_weight(
    task_type: str, key: str, weight: str, as_json: bool, **options: Any
) -> None:
    """Let flow key KEY of TYPE take W tasks (1-1000, or 'none' for 1) per round-robin
    turn while keys wait for slots."""
    value: int | None
    if weight.lower() in ("none", "default"):
        value = None
    else:
        try:
            value = int(weight)
        except ValueError:
            raise UserError(f"W must be a whole number 1-1000 or 'none', got {weight!r}") from None
    app = load_app(None, options)

    async def go() -> dict[str, Any]:
        async with app:
            await app.set_key_weight(task_type, key, value)
            return dict((await app.get_concurrency())[task_type])

    data = run(go())
    if as_json:
        dump_json({"task_type": task_type, "key": key, "weight": data["weights"].get(key, 1)})
        return
    click.echo(f"{task_type} key {key}: weight={data['weights'].get(key, 1)}")


@click.command()
@json_option
def plugins(as_json: bool) -> None:
    """List loaded plugins: distribution, version, hooks, URL schemes."""
    infos = Plugins().infos()
    if as_json:
        dump_json(
            [
                {
                    "name": i.name,
                    "module": i.module,
                    "distribution": i.distribution,
                    "version": i.version,
                    "hooks": i.hooks,
                    "schemes": i.schemes,
                }
                for i in infos
            ]
        )
        return
    table(
        ["name", "distribution", "version", "schemes", "hooks"],
        [
            [
                i.name,
                i.distribution or "-",
                i.version or "-",
                "; ".join(f"{role}: {', '.join(s)}" for role, s in i.schemes.items()) or "-",
                ", ".join(h.removeprefix("xqueue_") for h in i.hooks),
            ]
            for i in infos
        ],
    )


COMMANDS = [worker, submit, status, cancel, list_, stats, concurrency, plugins]
