"""Per-key concurrency limits and rate limits: what they cost, as a ratio to the same
drain without them.

    .venv/bin/python bench/flow.py                       # both stores, 20,000 tasks
    .venv/bin/python bench/flow.py --store sqlite --tasks 2000   # quick
    .venv/bin/python bench/flow.py --store redis --runs off,on --rounds 3

The workload: ``--tasks`` no-op tasks (the ``keyed`` type of
``bench/harness/xq_app.py``: its flow key is the payload's ``tenant``) spread over
``--keys`` keys (``--spread``: each task's key drawn at random with a fixed seed, or
in turn), submitted first with ``submit_many`` in batches of ``--batch``, then
drained by ``--processes`` worker processes (``xqueue worker xq_app:app
--concurrency C``), timed from the first completed task to the last (worker start-up
is not counted). The same backlog is drained once per run of ``--runs``, each on a
fresh store:

* ``off``: the tasks carry their keys, no limit is set;
* ``on``: every key limited to ``--per-key`` (2) running tasks (issue 17's
  workload): 100 keys x 2 leave room for all 2 x 50 slots, so the limits cost
  bookkeeping, and a wait only when a key drawn at random has more than 2 at once;
* ``on+type``: the same and the type limited to ``--type-limit`` (100), as many as
  the workers' slots: a worker takes a new task while its last run's outcome is
  still being written, so the type is briefly at its limit and claims are parked
  and woken;
* ``binding``: every key limited to 1 (and the type to ``--type-limit``): with
  2 x 50 slots a key's second task must wait for its first, so tasks are parked
  and woken;
* ``rated``: a rate on the type (``--type-rate``, 100000/s) and on every key
  (``--key-rate``, 10000/s) that no drain here reaches: what the rates' bookkeeping
  costs (each start is logged in both windows in the claim's step), with no wait;
* ``plain`` (not run unless asked for): no key on the tasks at all.

Stores (``--store``, default both): ``sqlite`` (embedded: broker and store on one
SQLite file) and ``redis`` (a redis-server this bench starts on a free loopback port;
broker and store on it: the Redis Streams broker and the Redis store; ``FLUSHALL`` and
a fresh prefix before each run). On Redis the bench also reads the server's CPU
(utime + stime from /proc) at the first completion and at the last: Redis CPU seconds
per 1000 tasks. The worker processes' CPU is read the same way on both stores.

Prints a table per store (tasks/s, the ratio of each run to ``off``, CPU) and writes
``bench/results/flow-<time>.json`` with the options, versions and load average.
``--rounds`` repeats the sequence of runs (ratios from the median). Every process the
bench starts (workers, redis-server) runs in a session of its own, registered with
``xqueue_core.testing.reaper``, and ends when the bench ends, on Ctrl-C too. Numbers
describe this machine at this moment; nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from harness.services import redis_service
from harness.xq_app import make_app

from xqueue_core import Settings, XQueue
from xqueue_core.logs import configure_logging
from xqueue_core.testing.processes import Processes, cpu_seconds, xqueue_command, xqueue_env

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "harness"
POLL = 0.02  # how often drain progress is read (seconds); finer while waiting for the first
STALL = 60.0  # give a drain up after this long without one more completed task


@dataclass(frozen=True)
class Run:
    name: str
    task_type: str  # "keyed" (key from the payload) or "noop" (no key)
    per_key: int | None
    type_limit: int | None
    type_rate: str | None = None
    key_rate: str | None = None

    def limits(self) -> str:
        parts = []
        if self.type_rate is not None:
            parts.append(f"rate {self.type_rate}")
        if self.key_rate is not None:
            parts.append(f"per-key rate {self.key_rate}")
        if self.per_key is not None:
            parts.append(f"per key {self.per_key}")
        if self.type_limit is not None:
            parts.append(f"type {self.type_limit}")
        return ", ".join(parts) or ("none, no keys" if self.task_type == "noop" else "none")


def runs_of(args: argparse.Namespace) -> list[Run]:
    known = {
        "plain": Run("plain", "noop", None, None),
        "off": Run("off", "keyed", None, None),
        "on": Run("on", "keyed", args.per_key, None),
        "on+type": Run("on+type", "keyed", args.per_key, args.type_limit),
        "binding": Run("binding", "keyed", 1, args.type_limit),
        "rated": Run("rated", "keyed", None, None, args.type_rate, args.key_rate),
    }
    return [known[name] for name in args.runs]


class Store:
    """One store under test: a fresh URL per run, the worker plugins, a Redis probe."""

    def __init__(self, name: str, workdir: Path, redis_url: str | None = None) -> None:
        self.name, self.workdir, self.redis_url = name, workdir, redis_url
        self.runs = 0
        self.redis: Any = None
        if redis_url is not None:
            import redis

            self.redis = redis.Redis.from_url(redis_url, decode_responses=True)

    def fresh(self) -> str:
        """The URL of an empty store (broker and store on the same URL)."""
        self.runs += 1
        if self.redis is None:
            return f"sqlite:///{self.workdir / f'flow-{self.runs}.db'}"
        self.redis.flushall()
        return f"{self.redis_url}?prefix=flow{secrets.token_hex(3)}"

    @property
    def plugins(self) -> str:
        return "redis" if self.redis is not None else ""

    def redis_pid(self) -> int | None:
        return None if self.redis is None else int(self.redis.info("server")["process_id"])

    def describe(self) -> str:
        if self.redis is None:
            return "sqlite store (embedded: broker and store on one SQLite file)"
        return (
            "redis store + Redis Streams broker (one private redis-server "
            f"{self.redis.info('server')['redis_version']})"
        )

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()


def backlog(args: argparse.Namespace, run: Run) -> list[dict[str, Any]]:
    """The tasks of every run: the same keys in the same order (``--spread``)."""
    if args.spread == "random":
        draw = random.Random(args.seed)
        keys = [draw.randrange(args.keys) for _ in range(args.tasks)]
    else:
        keys = [i % args.keys for i in range(args.tasks)]
    return [{"type": run.task_type, "payload": {"tenant": f"k{k:04d}"}} for k in keys]


async def successes(client: XQueue) -> int:
    assert client.store is not None
    return int((await client.store.counts())["status"].get("success", 0))


async def drain(args: argparse.Namespace, store: Store, run: Run) -> dict[str, Any]:
    url = store.fresh()
    client = make_app(settings=Settings(store=url, broker=url))
    n = args.tasks
    out: dict[str, Any] = {"run": run.name, "limits": run.limits()}
    async with client:
        if run.type_limit is not None:
            await client.set_concurrency(run.task_type, run.type_limit)
        if run.per_key is not None:
            await client.set_concurrency(run.task_type, run.per_key, per_key=True)
        if run.type_rate is not None:
            await client.set_rate(run.task_type, run.type_rate)
        if run.key_rate is not None:
            await client.set_rate(run.task_type, run.key_rate, per_key=True)
        items = backlog(args, run)
        started = time.perf_counter()
        for i in range(0, n, args.batch):
            await client.submit_many(items[i : i + args.batch])
        out["enqueue_rate"] = n / (time.perf_counter() - started)
        argv = xqueue_command("worker", "xq_app:app", "--concurrency", str(args.concurrency))
        env = xqueue_env([HARNESS], broker=url, store=url, log_level="warning")
        env["XQUEUE_LOAD_PLUGINS"] = store.plugins
        redis_pid = store.redis_pid()
        with Processes([argv] * args.processes, env, store.workdir, name="flow") as procs:
            give_up = time.monotonic() + 120
            while (done := await successes(client)) == 0:
                procs.check_alive()
                if time.monotonic() > give_up:
                    raise RuntimeError(f"no task finished within 120 s: {procs.tail()}")
                await asyncio.sleep(POLL / 4)
            t0, first_done = time.perf_counter(), done
            workers0 = sum(cpu_seconds(p) for p in procs.pids())
            redis0 = cpu_seconds(redis_pid) if redis_pid else 0.0
            last_progress, seen = t0, done
            while done < n:
                await asyncio.sleep(POLL)
                done = await successes(client)
                now = time.perf_counter()
                if done > seen:
                    last_progress, seen = now, done
                elif now - last_progress > STALL or now - t0 > args.budget:
                    procs.check_alive()
                    break
            elapsed = time.perf_counter() - t0
            workers1 = sum(cpu_seconds(p) for p in procs.pids())
            redis1 = cpu_seconds(redis_pid) if redis_pid else 0.0
        timed = done - first_done
        out.update(
            {
                "tasks": n,
                "done": done,
                "complete": done >= n,
                "seconds": elapsed,
                "rate": timed / elapsed if timed > 0 and elapsed > 0 else None,
                "worker_cpu_s_per_1000": 1000 * (workers1 - workers0) / timed if timed else None,
            }
        )
        if redis_pid:
            out["redis_cpu_s_per_1000"] = 1000 * (redis1 - redis0) / timed if timed else None
        assert client.store is not None
        out["statuses"] = (await client.store.counts())["status"]
        out["concurrency"] = (await client.get_concurrency()).get(run.task_type)
    return out


def median_of(results: list[dict[str, Any]], field: str) -> float | None:
    values = [r[field] for r in results if r.get(field) is not None]
    return statistics.median(values) if values else None


def summarize(runs: list[Run], results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per run: the median of its rounds; the ratio of its tasks/s to ``off``'s."""
    summary: dict[str, dict[str, Any]] = {}
    for run in runs:
        mine = [r for r in results if r["run"] == run.name]
        summary[run.name] = {
            "limits": run.limits(),
            "rounds": len(mine),
            "complete": all(r["complete"] for r in mine),
            "rate": median_of(mine, "rate"),
            "worker_cpu_s_per_1000": median_of(mine, "worker_cpu_s_per_1000"),
            "redis_cpu_s_per_1000": median_of(mine, "redis_cpu_s_per_1000"),
        }
    base = summary.get("off", {}).get("rate")
    for row in summary.values():
        row["ratio_to_off"] = row["rate"] / base if base and row["rate"] else None
    return summary


def table(title: str, summary: dict[str, dict[str, Any]], redis: bool) -> str:
    def num(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    head = f"{'run':<8} {'limits':<22} {'tasks/s':>9} {'/off':>6} {'worker CPU s/1000':>18}"
    lines = [title, head + (f" {'redis CPU s/1000':>17}" if redis else "")]
    for name, row in summary.items():
        line = (
            f"{name:<8} {row['limits']:<22} {num(row['rate'], ',.0f'):>9} "
            f"{num(row['ratio_to_off'], '.2f'):>6} "
            f"{num(row['worker_cpu_s_per_1000'], '.3f'):>18}"
        )
        if redis:
            line += f" {num(row['redis_cpu_s_per_1000'], '.3f'):>17}"
        if not row["complete"]:
            line += "  INCOMPLETE (stalled or over --budget; rated on what finished)"
        lines.append(line)
    return "\n".join(lines)


async def measure(args: argparse.Namespace, store: Store) -> dict[str, Any]:
    runs = runs_of(args)
    results = []
    for round_ in range(args.rounds):
        for run in runs:
            print(f"  {store.name}: {run.name} (round {round_ + 1})", file=sys.stderr, flush=True)
            result = await drain(args, store, run)
            result["round"] = round_ + 1
            rate = result["rate"] or 0
            print(f"    {rate:,.0f} tasks/s, {result['statuses']}", file=sys.stderr, flush=True)
            results.append(result)
    return {"describe": store.describe(), "runs": results, "summary": summarize(runs, results)}


def versions(redis_version: str | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    for name in ("xqueue-core", "xqueue-redis", "redis"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    out["redis-server"] = redis_version
    try:
        commit = subprocess.run(
            ["git", "-C", str(HERE), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    out["git"] = commit or None
    return out


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "redis", "both"), default="both")
    parser.add_argument("--tasks", type=int, default=20_000, help="tasks per run (20000)")
    parser.add_argument("--keys", type=int, default=100, help="flow keys (100)")
    parser.add_argument("--spread", choices=("random", "turn"), default="random")
    parser.add_argument("--seed", type=int, default=17, help="of --spread random")
    parser.add_argument("--batch", type=int, default=1000, help="tasks per submit_many")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--concurrency", type=int, default=50, help="per process (50)")
    parser.add_argument("--per-key", type=int, default=2, help="limit of each key, run on")
    parser.add_argument("--type-limit", type=int, default=100, help="type limit, on/binding")
    parser.add_argument("--type-rate", default="100000/s", help="type rate, run rated")
    parser.add_argument("--key-rate", default="10000/s", help="every key's rate, run rated")
    parser.add_argument(
        "--runs",
        default="off,on,on+type,binding,rated",
        help="of plain,off,on,on+type,binding,rated",
    )
    parser.add_argument("--rounds", type=int, default=1, help="times the runs are repeated")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per drain")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="JSON directory")
    args = parser.parse_args(argv)
    args.runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = set(args.runs) - {"plain", "off", "on", "on+type", "binding", "rated"}
    if unknown or not args.runs:
        parser.error(f"--runs: of plain,off,on,on+type,binding,rated, got {','.join(args.runs)!r}")
    for name in ("tasks", "keys", "batch", "processes", "concurrency", "per_key", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    args.stores = ["sqlite", "redis"] if args.store == "both" else [args.store]
    return args


def measure_stores(
    args: argparse.Namespace,
    measure: Callable[[argparse.Namespace, Store], Awaitable[dict[str, Any]]],
    temp_prefix: str,
) -> tuple[dict[str, Any], str | None]:
    """``measure`` on each store of ``args.stores`` (a private redis-server for Redis),
    each store in a directory of its own: the results per store (an ``error`` for a
    store that failed: the others still report), and the redis-server's version."""
    results: dict[str, Any] = {}
    redis_version = None
    with tempfile.TemporaryDirectory(prefix=temp_prefix) as tmp, ExitStack() as stack:
        for name in args.stores:
            workdir = Path(tmp) / name
            workdir.mkdir()
            if name == "redis":
                redis = stack.enter_context(redis_service())
                store = Store(name, workdir, f"redis://127.0.0.1:{redis.port}/0")
            else:
                store = Store(name, workdir)
            stack.callback(store.close)
            try:
                results[name] = asyncio.run(measure(args, store))
            except Exception as exc:  # one store failing still reports the other
                results[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
                print(f"  {name}: FAILED: {results[name]['error']}", file=sys.stderr, flush=True)
            if name == "redis" and store.redis is not None:
                redis_version = store.redis.info("server")["redis_version"]
    return results, redis_version


def started(workload: str) -> dict[str, Any]:
    """The meta of a bench run at its start (:func:`save` adds the rest)."""
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_before": os.getloadavg(),
        "workload": workload,
    }


def save(
    args: argparse.Namespace,
    kind: str,
    meta: dict[str, Any],
    results: dict[str, Any],
    redis_version: str | None,
) -> int:
    """Write ``bench/results/<kind>-<time>.json`` (the meta with the machine, versions
    and options added) and print where; the exit code (1 if a store failed)."""
    load_before = meta["load_average_before"]
    meta = {
        **meta,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_average_after": os.getloadavg(),
        "versions": versions(redis_version),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"\nload average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after; {shown}")
    return 1 if any("error" in r for r in results.values()) else 0


def main() -> int:
    args = parse()
    configure_logging("warning")
    # the client app loads the Redis plugin only (the workers get their own list)
    os.environ["XQUEUE_LOAD_PLUGINS"] = "redis" if "redis" in args.stores else ""
    meta = started("no-op handler (type keyed, key = payload tenant)")
    results, redis_version = measure_stores(args, measure, "xqueue-flow-bench-")
    spread = "at random" if args.spread == "random" else "in turn"
    print(
        f"\n{args.tasks:,} no-op tasks over {args.keys} keys ({spread}), drained by "
        f"{args.processes} worker processes x {args.concurrency}; "
        f"first->last completion; {args.rounds} round(s)"
    )
    for name, result in results.items():
        print()
        if "error" in result:
            print(f"{name}: FAILED: {result['error']}")
            continue
        print(table(result["describe"], result["summary"], name == "redis"))
    return save(args, "flow", meta, results, redis_version)


def store_bench(
    kind: str,
    args: argparse.Namespace,
    measure: Callable[[argparse.Namespace, Store], Awaitable[dict[str, Any]]],
    report: Callable[[argparse.Namespace, dict[str, Any]], str],
    workload: str,
) -> int:
    """The main of a bench over ``args.stores``: ``measure`` each store, print each
    ``report`` (or its error), write ``bench/results/<kind>-<time>.json``."""
    configure_logging("warning")
    # the client app loads the Redis plugin only (the workers get their own list)
    os.environ["XQUEUE_LOAD_PLUGINS"] = "redis" if "redis" in args.stores else ""
    meta = started(workload)
    results, redis_version = measure_stores(args, measure, f"xqueue-{kind}-bench-")
    for name, result in results.items():
        print()
        print(f"{name}: FAILED: {result['error']}" if "error" in result else report(args, result))
    return save(args, kind, meta, results, redis_version)


def run_main(main: Callable[[], int]) -> None:
    """Exit with ``main()``'s code; 130 on Ctrl-C (every process started is stopped
    on the way out)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run_main(main)
