"""``xqueue workers``: the live workers (:mod:`xqueue_core.presence`)."""

from __future__ import annotations

from typing import Any

import click

from ..models import WorkerInfo
from .common import backend_options, dump_json, json_option, load_app, run
from .display import table


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


@click.command()
@backend_options
@json_option
def workers(as_json: bool, **options: Any) -> None:
    """Every live worker: host, pid, task types, concurrency, running tasks, started,
    last seen, version. A worker that stopped is gone at once; one that died, once
    its last report is a lease old."""
    app = load_app(None, options)

    async def go() -> tuple[float, list[WorkerInfo]]:
        async with app:
            return await app.backends().store.now(), await app.workers()

    now, found = run(go())
    if as_json:
        dump_json([w.to_dict() for w in found])
        return
    if not found:
        click.echo("no live worker")
        return
    table(
        ["id", "host", "pid", "types", "concurrency", "running", "started", "last seen", "version"],
        [
            [
                w.id,
                w.host,
                w.pid,
                ", ".join(w.types),
                w.concurrency,
                len(w.running),
                _ago(now - w.started_at),
                _ago(now - w.last_seen),
                w.version,
            ]
            for w in found
        ],
    )
