"""Workflows: a fan-out/fan-in (chord) of 10,000 no-op members, as a ratio of the
same number of independent tasks, on both stores, and the same chord on Celery.

    .venv/bin/python bench/workflows.py                     # both stores and Celery, 10,000
    .venv/bin/python bench/workflows.py --store sqlite --members 2000 --rounds 3
    .venv/bin/python bench/workflows.py --store none --members 2000     # Celery alone
    .venv/bin/python bench/workflows.py --no-celery                     # xqueue alone

Per store and round, each on a fresh store, drained by ``--processes`` (2) ``xqueue
worker`` processes x ``--concurrency`` (50) started after the submit:

* ``independent``: ``--members`` no-op tasks (``submit_many``, batches of 1000);
* ``chord``: ``app.chord`` of as many no-op members and a no-op callback (one store
  call for all of them); the callback's ``ctx.parents`` (every member's result) is
  read before it runs, 500 per store call.

Timed from the first completed task to the last (the callback, for the chord);
tasks/s counts every task (the chord's callback too). Also the submit time: the
chord's one call against ``submit_many``'s.

Then Celery (``bench/peers/celery_chord.py``, run in ``bench/.venv-peers``, made on
first use by ``harness/venvs.py``), on a redis-server of its own (a free loopback
port): Redis broker, Redis result backend, one ``celery worker -P prefork -c``
``--celery-concurrency`` (2: one pool process per core, Celery's default here, as in
``bench/run``) started after the submit; ``independent`` is ``--members`` tasks sent
with ``apply_async`` (batches of 1000 on one producer), ``chord`` is
``chord(group(member.s() for _ in range(N)), callback.s())``; the members return 1
(kept in the result backend in both runs: a chord member must keep its result) and
the callback gets all N. Completion is read from the result backend's database
(``DBSIZE``: one key per finished task) and, for the chord, the callback's result
key, polled as the xqueue side polls its store: nothing is added to the tasks.

Prints a table per store and for Celery, each system's chord/independent ratio and
the xqueue chord's tasks/s over Celery's; writes ``bench/results/workflows-<time>.json``
(Celery under ``results.celery``). Every process started (workers, the Celery driver
and its worker, redis-servers) runs in a session of its own, registered with
``xqueue_core.testing.reaper``, and ends when the bench ends, on Ctrl-C too. Numbers
describe this machine at this moment; nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flow import HARNESS, POLL, STALL, Store, measure_stores, run_main, save, started, successes
from harness.services import redis_service
from harness.venvs import PEER_VENV, ensure_peer_venvs
from harness.xq_app import make_app

from xqueue_core import Node, Settings
from xqueue_core.logs import configure_logging
from xqueue_core.testing import processes, reaper
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
            results.append({**await drain(args, store, run), "round": round_ + 1})
            print(f"    {results[-1]['rate'] or 0:,.0f} tasks/s", file=sys.stderr, flush=True)

    return {"describe": store.describe(), **summarize(results)}


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs, the median of each run's rounds, the chord's ratio to independent."""

    def median(run: str, field: str) -> float:
        return statistics.median([r[field] or 0 for r in results if r["run"] == run])

    summary: dict[str, dict[str, float | None]] = {
        run: {"rate": median(run, "rate"), "submit_s": median(run, "submit_s")}
        for run in ("independent", "chord")
    }
    base, chord = summary["independent"]["rate"], summary["chord"]["rate"]
    summary["chord"]["ratio"] = chord / base if base and chord else None
    complete = all(r["complete"] for r in results)
    return {"runs": results, "summary": summary, "complete": complete}


def measure_celery(args: argparse.Namespace) -> dict[str, Any]:
    """The same two runs on Celery: ``bench/peers/celery_chord.py`` in the peers' venv,
    on a redis-server of its own; the driver in a session of its own (it stops its
    worker on SIGTERM; whatever is left of the tree is SIGKILLed)."""
    print("  celery: the peers' venv", file=sys.stderr, flush=True)
    ensure_peer_venvs(["celery"])
    python = PEER_VENV["celery"] / "bin" / "python"
    with tempfile.TemporaryDirectory(prefix="xqueue-workflows-celery-") as tmp:
        out = Path(tmp) / "celery.json"
        with redis_service() as redis:
            argv = [
                str(python),
                str(HERE / "peers" / "celery_chord.py"),
                "--redis-url",
                f"redis://127.0.0.1:{redis.port}/0",
                "--members",
                str(args.members),
                "--concurrency",
                str(args.celery_concurrency),
                "--rounds",
                str(args.rounds),
                "--budget",
                str(args.budget),
                "--workdir",
                tmp,
                "--out",
                str(out),
            ]
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            limit = args.rounds * 2 * (120 + args.budget + 90) + 120
            proc = subprocess.Popen(argv, env=env, cwd=tmp, start_new_session=True)
            reaper.watch(proc.pid)
            try:
                code = proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"the Celery driver timed out after {limit:.0f} s") from None
            finally:
                processes.stop([proc], grace=20)
        if code != 0 or not out.exists():
            raise RuntimeError(f"the Celery driver exited with {code}")
        data: dict[str, Any] = json.loads(out.read_text())
    describe = (
        f"celery {data['versions'].get('celery')}: {data['config']} "
        f"(one private redis-server {data['redis_server']})"
    )
    return {"describe": describe, **data, **summarize(data["runs"])}


def comparison(results: dict[str, Any]) -> dict[str, float | None]:
    """Per store: the xqueue chord's tasks/s over Celery's chord's, same run."""
    celery = results.get("celery", {})
    theirs = celery.get("summary", {}).get("chord", {}).get("rate")
    out: dict[str, float | None] = {}
    for name, result in results.items():
        if name == "celery" or "summary" not in result:
            continue
        ours = result["summary"]["chord"]["rate"]
        out[name] = ours / theirs if ours and theirs else None
    return out


def ratios(results: dict[str, Any]) -> str:
    """The lines that compare the systems of this run."""
    names = {"sqlite": "xqueue sqlite", "redis": "xqueue redis", "celery": "celery"}
    lines = ["chord tasks/s as a ratio to independent tasks/s (same system, same run):"]
    for name, result in results.items():
        if "summary" in result:
            ratio = result["summary"]["chord"]["ratio"]
            shown = "-" if ratio is None else f"{ratio:.2f}"
            lines.append(f"  {names.get(name, name):<14} {shown:>6}")
    versus = comparison(results)
    if versus:
        theirs = results["celery"]["summary"]["chord"]["rate"]
        lines.append("chord tasks/s, xqueue over Celery (same run):")
        for name, ratio in versus.items():
            ours = results[name]["summary"]["chord"]["rate"]
            shown = "-" if ratio is None else f"{ratio:.2f}x"
            lines.append(f"  {names[name]:<14} {ours:>9,.0f} / {theirs:,.0f} = {shown}")
    return "\n".join(lines)


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
    parser.add_argument(
        "--store", choices=("sqlite", "redis", "both", "none"), default="both", help="xqueue's"
    )
    parser.add_argument("--members", type=int, default=10_000, help="chord members (10000)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--concurrency", type=int, default=50, help="per process (50)")
    parser.add_argument("--rounds", type=int, default=1, help="times the runs are repeated")
    parser.add_argument(
        "--no-celery", dest="celery", action="store_false", help="leave Celery's runs out"
    )
    parser.add_argument(
        "--celery-concurrency", type=int, default=2, help="Celery prefork pool processes (2)"
    )
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per Celery drain")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="JSON directory")
    args = parser.parse_args(argv)
    for name in ("members", "processes", "concurrency", "rounds", "celery_concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    stores = {"both": ["sqlite", "redis"], "none": []}
    args.stores = stores.get(args.store, [args.store])
    if not args.stores and not args.celery:
        parser.error("--store none with --no-celery measures nothing")
    return args


def main() -> int:
    args = parse()
    workload = f"chord of {args.members} no-op members vs as many independent no-op tasks"
    configure_logging("warning")
    # the client app loads the Redis plugin only (the workers get their own list)
    os.environ["XQUEUE_LOAD_PLUGINS"] = "redis" if "redis" in args.stores else ""
    meta = started(workload)
    results, redis_version = measure_stores(args, measure, "xqueue-workflows-bench-")
    if args.celery:
        try:
            results["celery"] = measure_celery(args)
        except Exception as exc:  # Celery failing still reports xqueue
            results["celery"] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            print(f"  celery: FAILED: {results['celery']['error']}", file=sys.stderr, flush=True)
        else:
            results["celery"]["xqueue_chord_over_celery_chord"] = comparison(results)
    print(
        f"\n{args.members:,} members; xqueue: {args.processes} worker processes x "
        f"{args.concurrency}; celery: prefork -c {args.celery_concurrency}; "
        f"first->last completion; {args.rounds} round(s)"
    )
    for name, result in results.items():
        print()
        print(f"{name}: FAILED: {result['error']}" if "error" in result else report(args, result))
    print()
    print(ratios(results))
    return save(args, "workflows", meta, results, redis_version)


if __name__ == "__main__":
    run_main(main)
