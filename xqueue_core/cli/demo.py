"""``xqueue demo``: workers on the embedded backend process a demo batch, with progress."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from typing import Any

import click

from ..app import XQueue
from ..models import TaskStatus
from .common import app_argument, backend_options, load_app, run
from .display import Progress
from .supervisor import child_argv


def _batch(app: XQueue, size: int) -> list[dict[str, Any]]:
    types = sorted(app.handlers)
    rng = random.Random(7)
    return [
        {
            "type": types[i % len(types)],
            "payload": {"n": i, "seconds": rng.uniform(0.05, 0.5)},
            "priority": rng.choice([0, 0, 0, 5]),
        }
        for i in range(size)
    ]


@click.command()
@app_argument
@backend_options
@click.option("--tasks", "size", type=click.IntRange(1, 1_000_000), default=200, show_default=True)
@click.option(
    "--processes",
    "-p",
    type=click.IntRange(0, 64),
    default=2,
    show_default=True,
    help="Worker processes to start; 0 when workers already run (e.g. 'xqueue serve').",
)
@click.option("--concurrency", "-c", type=click.IntRange(1), default=20, show_default=True)
def demo(app_ref: str | None, size: int, processes: int, concurrency: int, **options: Any) -> None:
    """Start workers, submit a demo batch of APP's task types and show progress until done."""
    app = load_app(app_ref or "examples.app:app", options)
    args = ["--concurrency", str(concurrency)]
    for name in ("broker", "store"):
        args += [f"--{name}", getattr(app.settings, name)]
    workers = [
        subprocess.Popen(child_argv(app_ref or "examples.app:app", args), stderr=subprocess.DEVNULL)
        for _ in range(processes)
    ]

    async def go() -> dict[str, int]:
        async with app:
            tasks = await app.submit_many(_batch(app, size))
            where = f"{processes} worker processes" if processes else "the running workers"
            click.echo(f"submitted {len(tasks)} tasks to {where} ({app.settings.store})", err=True)
            ids = [t.id for t in tasks]
            progress = Progress("demo", total=len(ids))
            counts: dict[str, int] = {}
            while True:
                counts = {}
                for task_id in ids:
                    status = (await app.get(task_id)).status
                    counts[status] = counts.get(status, 0) + 1
                done = sum(n for s, n in counts.items() if TaskStatus(s).terminal)
                detail = " ".join(f"{s}={n}" for s, n in sorted(counts.items()))
                progress.update(done, detail)
                if done == len(ids):
                    progress.update(done, detail, force=True)
                    progress.finish()
                    return counts
                await asyncio.sleep(0.2)

    try:
        counts = run(go())
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait()
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    click.echo(f"done: {summary}")
    sys.exit(0)
