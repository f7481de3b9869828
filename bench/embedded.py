"""The embedded backend (one SQLite file, no server): enqueue, drain and latency.

    .venv/bin/python bench/embedded.py [--tasks 20000] [--processes 2]

Each workload runs on a fresh SQLite file in a temporary directory, with
worker processes started by ``xqueue worker`` exactly as a user would:

* ``enqueue``: ``--tasks`` no-op tasks submitted with ``submit_many`` in
  batches of ``--batch``, no worker running (tasks/s);
* ``drain noop``: the backlog of no-op tasks drained by ``--processes`` worker
  processes (``--concurrency`` each); timed from the moment every process has
  started a task to the last completion, so process start-up is not counted;
* ``drain sleep10``: the same with tasks that ``await asyncio.sleep(0.01)``,
  ``--io-concurrency`` per process;
* ``latency``: ``--round-trips`` sequential submit→done round trips on idle,
  warmed-up workers: the store's created→completed time, and the time the
  submitting client saw (submit call to ``wait`` returning).

Prints a table and writes the numbers as JSON to ``bench/results/``. The
numbers describe this machine at this moment; nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.xq_app import make_app

from xqueue_core import Settings, XQueue
from xqueue_core.logs import configure_logging
from xqueue_core.testing.processes import Processes, xqueue_command, xqueue_env

HERE = Path(__file__).resolve().parent


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100)."""
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.runs = 0

    def fresh(self) -> tuple[Path, XQueue]:
        """A new database file and a client app (with the handlers) on it."""
        self.runs += 1
        db = self.workdir / f"run{self.runs}.db"
        url = f"sqlite:///{db}"
        # the harness's app (its types: submits validate), without plugins
        client = make_app(settings=Settings(store=url, broker=url), autoload_plugins=False)
        return db, client

    def workers(self, db: Path, concurrency: int) -> Processes:
        """``xqueue worker`` with ``--processes`` on the file, as a user starts it."""
        url = f"sqlite:///{db}"
        env = xqueue_env([HERE / "harness"], store=url, broker=url, log_level="warning")
        env["XQUEUE_LOAD_PLUGINS"] = ""
        argv = xqueue_command("worker", "xq_app:app", "--processes", str(self.args.processes))
        argv += ["--concurrency", str(concurrency)]
        return Processes([argv], env, self.workdir, cwd=self.workdir)

    @staticmethod
    def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(db, timeout=60)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    async def submit_backlog(self, client: XQueue, task_type: str) -> float:
        """Submit ``--tasks`` tasks in batches; returns the seconds it took."""
        n, batch = self.args.tasks, self.args.batch
        items = [{"type": task_type, "payload": {"i": i}} for i in range(n)]
        started = time.perf_counter()
        for i in range(0, n, batch):
            await client.submit_many(items[i : i + batch])
        return time.perf_counter() - started

    async def enqueue(self) -> dict[str, Any]:
        _, client = self.fresh()
        async with client:
            seconds = await self.submit_backlog(client, "noop")
        return {"tasks": self.args.tasks, "seconds": seconds, "rate": self.args.tasks / seconds}

    async def drain(self, task_type: str, concurrency: int) -> dict[str, Any]:
        db, client = self.fresh()
        async with client:
            await self.submit_backlog(client, task_type)
        n = self.args.tasks
        with self.workers(db, concurrency) as workers:
            while True:
                done = self.query(db, "SELECT COUNT(*) FROM tasks WHERE completed_at IS NOT NULL")
                if done[0][0] >= n:
                    break
                workers.check_alive()
                await asyncio.sleep(0.05)
        # both processes busy from the later of their first claims; count what finished after
        firsts = self.query(db, "SELECT MIN(started_at) FROM tasks GROUP BY worker_id")
        ready = max(f[0] for f in firsts)
        ((last, after),) = self.query(
            db,
            "SELECT MAX(completed_at), SUM(completed_at >= ?) FROM tasks",
            ready,
        )
        ((first_done,),) = self.query(db, "SELECT MIN(completed_at) FROM tasks")
        statuses = dict(self.query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY status"))
        return {
            "tasks": n,
            "processes": len(firsts),
            "concurrency": concurrency,
            "seconds": last - ready,
            "rate": after / (last - ready),
            "rate_first_to_last": n / (last - first_done),
            "statuses": statuses,
        }

    async def latency(self) -> dict[str, Any]:
        db, client = self.fresh()
        observed: list[float] = []
        with self.workers(db, self.args.concurrency):
            async with client:
                for i in range(self.args.warmup + self.args.round_trips):
                    started = time.perf_counter()
                    task = await client.submit("noop", {"i": i})
                    await self.wait(client, task.id)
                    if i >= self.args.warmup:
                        observed.append(time.perf_counter() - started)
        rows = self.query(
            db,
            "SELECT completed_at - created_at FROM tasks ORDER BY id LIMIT -1 OFFSET ?",
            self.args.warmup,
        )
        stored = [r[0] for r in rows]
        return {
            "round_trips": len(observed),
            "store_p50_ms": percentile(stored, 50) * 1000,
            "store_p99_ms": percentile(stored, 99) * 1000,
            "client_p50_ms": percentile(observed, 50) * 1000,
            "client_p99_ms": percentile(observed, 99) * 1000,
        }

    @staticmethod
    async def wait(client: XQueue, task_id: str) -> None:
        """Poll every millisecond (``XQueue.wait`` backs off, which would blur latency)."""
        while not (await client.get(task_id)).terminal:
            await asyncio.sleep(0.001)


def table(results: dict[str, Any]) -> str:
    lines = [f"{'workload':<16} {'result':>14}  detail"]
    enq = results["enqueue"]
    lines.append(f"{'enqueue':<16} {enq['rate']:>10,.0f} /s  {enq['tasks']} tasks, submit_many")
    for name in ("drain_noop", "drain_sleep10"):
        d = results[name]
        lines.append(
            f"{name.replace('_', ' '):<16} {d['rate']:>10,.0f} /s  "
            f"{d['processes']} processes x {d['concurrency']}; first->last completion "
            f"{d['rate_first_to_last']:,.0f} /s"
        )
    lat = results["latency"]
    lines.append(
        f"{'latency p50':<16} {lat['store_p50_ms']:>11.1f} ms  "
        f"created->completed; client saw {lat['client_p50_ms']:.1f} ms"
    )
    lines.append(
        f"{'latency p99':<16} {lat['store_p99_ms']:>11.1f} ms  "
        f"created->completed; client saw {lat['client_p99_ms']:.1f} ms"
    )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="xqueue-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        results: dict[str, Any] = {}
        only = set(args.only.split(",")) if args.only else None
        steps = [
            ("enqueue", bench.enqueue),
            ("drain_noop", lambda: bench.drain("noop", args.concurrency)),
            ("drain_sleep10", lambda: bench.drain("sleep", args.io_concurrency)),
            ("latency", bench.latency),
        ]
        for name, step in steps:
            if only is not None and name not in only:
                continue
            print(f"  {name} ...", file=sys.stderr, flush=True)
            results[name] = await step()
        return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000, help="tasks per workload")
    parser.add_argument("--batch", type=int, default=1000, help="tasks per submit_many call")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=50, help="per process, no-op tasks")
    parser.add_argument("--io-concurrency", type=int, default=500, help="per process, sleep10")
    parser.add_argument("--round-trips", type=int, default=500, help="latency samples")
    parser.add_argument("--warmup", type=int, default=20, help="round trips not counted")
    parser.add_argument("--only", help="comma-separated workloads: enqueue,drain_noop,...")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="JSON directory")
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = parse_args()
    configure_logging("warning")
    numbers = asyncio.run(main(options))
    meta = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "options": {k: str(v) for k, v in vars(options).items()},
    }
    if all(k in numbers for k in ("enqueue", "drain_noop", "drain_sleep10", "latency")):
        print(table(numbers))
    else:
        print(json.dumps(numbers, indent=2))
    options.out.mkdir(parents=True, exist_ok=True)
    path = options.out / f"embedded-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"meta": meta, "results": numbers}, indent=2) + "\n")
    print(f"written {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
