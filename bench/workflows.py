"""Workflows: a fan-out/fan-in (chord) of 10,000 no-op members, as a ratio of the
same number of independent tasks, on both stores.

    .venv/bin/python bench/workflows.py                     # both stores, 10,000 members
    .venv/bin/python bench/workflows.py --store sqlite --members 2000 --rounds 3

Per store and round, each on a fresh store, drained by ``--processes`` (2) ``xqueue
worker`` processes x ``--concurrency`` (50) started after the submit:

* ``independent``: ``--members`` no-op tasks (``submit_many``, batches of 1000);
* ``chord``: ``app.chord`` of as many no-op members and a no-op callback (one store
  call for all of them); the callback's ``ctx.parents`` (every member's result) is
  read before it runs, 500 per store call.

Timed from the first completed task to the last (the callback, for the chord);
tasks/s counts every task (the chord's callback too). Also the submit time: the
chord's one call against ``submit_many``'s. Prints a table per store and writes
``bench/results/workflows-<time>.json``. Every process started ends with the bench.
Numbers describe this machine at this moment; nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flow import HARNESS, POLL, STALL, Store, run_main, store_bench, successes
from harness.xq_app import make_app

from xqueue_core import Node, Settings
from xqueue_core.testing.processes import Processes, xqueue_command, xqueue_env

HERE = Path(__file__).resolve().parent


async def drain(args: argparse.Namespace, store: Store, run: str) -> dict[str, Any]:
    url = store.fresh()
    client = make_app(settings=Settings(store=url, broker=url))
    n = args.members
    async with client:
        t = time.perf_counter()
        if run == "chord":
            chord = await client.chord([Node.of("noop")] * n, Node.of("noop"))
            total, last = n + 1, chord.task_ids["callback"]
        else:
            for i in range(0, n, 1000):
                await client.submit_many([{"type": "noop"}] * min(1000, n - i))
            total, last = n, None
        submit_s = time.perf_counter() - t
        argv = xqueue_command("worker", "xq_app:app", "--concurrency", str(args.concurrency))
        env = xqueue_env([HARNESS], broker=url, store=url, log_level="warning")
        env["XQUEUE_LOAD_PLUGINS"] = store.plugins
        with Processes([argv] * args.processes, env, store.workdir, name="wf") as procs:
            give_up = time.monotonic() + 120
            while (done := await successes(client)) == 0:
                procs.check_alive()
                if time.monotonic() > give_up:
                    raise RuntimeError(f"no task finished within 120 s: {procs.tail()}")
                await asyncio.sleep(POLL / 4)
            t0, first, seen, moved = time.perf_counter(), done, done, time.perf_counter()
            while done < total:
                await asyncio.sleep(POLL)
                done = await successes(client)
                now = time.perf_counter()
                if done > seen:
                    seen, moved = done, now
                elif now - moved > STALL:
                    procs.check_alive()
                    break
            elapsed = time.perf_counter() - t0
        callback_ok = last is None or str((await client.get(last)).status) == "success"
    timed = done - first
    return {
        "run": run,
        "tasks": total,
        "done": done,
        "complete": done >= total and callback_ok,
        "submit_s": submit_s,
        "seconds": elapsed,
        "rate": timed / elapsed if timed > 0 and elapsed > 0 else None,
    }


async def measure(args: argparse.Namespace, store: Store) -> dict[str, Any]:
    results = []
    for round_ in range(args.rounds):
        for run in ("independent", "chord"):
            print(f"  {store.name}: {run} (round {round_ + 1})", file=sys.stderr, flush=True)
            results.append(await drain(args, store, run))
            print(f"    {results[-1]['rate'] or 0:,.0f} tasks/s", file=sys.stderr, flush=True)

    def median(run: str, field: str) -> float:
        return statistics.median([r[field] or 0 for r in results if r["run"] == run])

    summary = {
        run: {"rate": median(run, "rate"), "submit_s": median(run, "submit_s")}
        for run in ("independent", "chord")
    }
    base = summary["independent"]["rate"]
    summary["chord"]["ratio"] = summary["chord"]["rate"] / base if base else None
    complete = all(r["complete"] for r in results)
    return {"describe": store.describe(), "runs": results, "summary": summary, "complete": complete}


def report(args: argparse.Namespace, result: dict[str, Any]) -> str:
    s = result["summary"]
    lines = [
        result["describe"],
        f"  {'run':<12} {'tasks/s':>9} {'/independent':>13} {'submit s':>9}",
    ]
    for run in ("independent", "chord"):
        ratio = s[run].get("ratio", 1.0)
        lines.append(
            f"  {run:<12} {s[run]['rate']:>9,.0f} {ratio or 0:>13.2f} {s[run]['submit_s']:>9.2f}"
        )
    if not result["complete"]:
        lines.append(
            "  INCOMPLETE: some run stalled or its callback did not succeed (see the JSON)"
        )
    return "\n".join(lines)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "redis", "both"), default="both")
    parser.add_argument("--members", type=int, default=10_000, help="chord members (10000)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--concurrency", type=int, default=50, help="per process (50)")
    parser.add_argument("--rounds", type=int, default=1, help="times the runs are repeated")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="JSON directory")
    args = parser.parse_args(argv)
    for name in ("members", "processes", "concurrency", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    args.stores = ["sqlite", "redis"] if args.store == "both" else [args.store]
    return args


def main() -> int:
    args = parse()
    workload = f"chord of {args.members} no-op members vs as many independent no-op tasks"
    return store_bench("workflows", args, measure, report, workload)


if __name__ == "__main__":
    run_main(main)
