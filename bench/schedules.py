"""Periodic schedules: what 1,000 of them cost, as store work per ticker and as a
ratio of an unrelated drain with them to the same drain without.

    .venv/bin/python bench/schedules.py                    # both stores (~5 minutes)
    .venv/bin/python bench/schedules.py --store redis --rounds 3
    .venv/bin/python bench/schedules.py --store sqlite --tasks 5000 --schedules 200

Two measurements per store, each on a fresh store holding ``--schedules`` (1,000)
schedules ``every --every`` (60) seconds of the no-op ``echo`` type. An ``every``
ticks on multiples of its seconds since the epoch, so all of them tick on the same
second: the worst case of a single look.

* **ticker**: ``--tickers`` (2) tickers, each the one a worker runs
  (``xqueue_core.ticker.run`` on an app of its own, so a connection of its own), in
  this process, for ``--window`` (20) seconds placed around one tick of them all
  (started 10 s before it, on the store's clock). Every call the tickers make to
  the store is counted (each is one round trip: one ``EVALSHA`` on Redis, one
  transaction on SQLite): calls per ticker per second while nothing is due, calls
  in the 3 s from the tick on, how many fire attempts found their tick already
  fired by the other ticker, and how late the tasks were made (``created_at -
  scheduled_for``, p50 and max). On Redis the server's ``INFO commandstats`` over
  the window counts the commands themselves.
* **drain**: ``--tasks`` (20,000) no-op tasks submitted first, then drained by
  ``--processes`` (2) ``xqueue worker`` processes x ``--concurrency`` (50), timed
  from the first completed task to the last, once without schedules (``off``) and
  once with them (``on``), the workers started so that the tick of them all falls
  inside the drain (their 1,000 fired tasks are drained too and counted in its
  tasks/s). ``--rounds`` repeats both; the ratio is of the medians.

Prints both tables and writes ``bench/results/schedules-<time>.json``. Every process
the bench starts runs in a session of its own, registered with
``xqueue_core.testing.reaper``, and ends when the bench ends, on Ctrl-C too. Numbers
describe this machine at this moment; nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flow import HARNESS, POLL, STALL, Store, run_main, store_bench
from harness.xq_app import make_app

from xqueue_core import Settings, XQueue, ticker
from xqueue_core.testing.processes import Processes, cpu_seconds, xqueue_command, xqueue_env

HERE = Path(__file__).resolve().parent
LEAD = 10.0  # the ticker window starts this long before the tick of every schedule


class Counted:
    """Counts the calls made to some methods of an object (the store of one ticker)."""

    def __init__(self, target: Any, names: Sequence[str]) -> None:
        self.calls: list[tuple[float, str]] = []
        self.conflicts = 0
        for name in names:
            setattr(target, name, self._wrap(name, getattr(target, name)))

    def _wrap(self, name: str, method: Any) -> Any:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((time.time(), name))
            result = await method(*args, **kwargs)
            if name == "fire_schedules":
                self.conflicts += sum(r is None for r in result)
            return result

        return counted


async def add_schedules(client: XQueue, args: argparse.Namespace, lead: float) -> float:
    """Add the schedules so that their first tick is at least ``lead`` seconds after
    they are all in; that tick (on the store's clock, this host's here)."""
    assert client.store is not None
    now = await client.store.now()
    room = lead + 2 + args.schedules * 0.01  # adding one takes a few ms
    if args.every - now % args.every < room:  # too near the next tick: start after it
        await asyncio.sleep(args.every - now % args.every + 0.05)
        now = await client.store.now()
    tick = (now // args.every + 1) * args.every
    for i in range(args.schedules):
        await client.add_schedule(f"s{i:05d}", "echo", every=args.every)
    now = await client.store.now()
    if tick - now < lead:
        raise RuntimeError(
            f"adding {args.schedules} schedules took too long ({tick - now:.1f} s left)"
        )
    return tick


async def sleep_until(client: XQueue, moment: float) -> None:
    assert client.store is not None
    await asyncio.sleep(max(0.0, moment - await client.store.now()))


def commands(redis: Any) -> int:
    return sum(int(v["calls"]) for v in redis.info("commandstats").values())


async def measure_ticker(args: argparse.Namespace, store: Store) -> dict[str, Any]:
    url = store.fresh()
    settings = Settings(store=url, broker=url)
    client = make_app(settings=settings)
    async with client:
        tick = await add_schedules(client, args, LEAD)
        await sleep_until(client, tick - LEAD)
        apps = [make_app(settings=settings) for _ in range(args.tickers)]
        counters = []
        for app in apps:
            await app.__aenter__()
            counters.append(Counted(app.backends().store, ("due_schedules", "fire_schedules")))
        stopping = asyncio.Event()
        samples = [(time.time(), commands(store.redis))] if store.redis is not None else []
        t0 = time.time()
        runs = [asyncio.create_task(ticker.run(app, stopping)) for app in apps]
        while time.time() < t0 + args.window:
            await asyncio.sleep(0.25)
            if store.redis is not None:  # the server's count, to split quiet from the tick
                samples.append((time.time(), commands(store.redis)))
        stopping.set()
        await asyncio.gather(*runs)
        elapsed = time.time() - t0
        for app in apps:
            await app.__aexit__(None, None, None)
        fired = await fired_tasks(client)
    # the store's clock is this host's here (Redis on this machine, or the file)
    quiet = [
        [c for c in counter.calls if not tick - 0.5 <= c[0] < tick + 3] for counter in counters
    ]
    quiet_seconds = elapsed - 3.5
    late = sorted(t.created_at - (t.scheduled_for or 0.0) for t in fired)
    out: dict[str, Any] = {
        "tickers": args.tickers,
        "window_s": elapsed,
        "fired": len(fired),
        "fired_once": len({t.schedule for t in fired}) == len(fired),
        "quiet_calls_per_ticker_s": statistics.mean(len(q) for q in quiet) / quiet_seconds,
        "tick_calls": sum(len(c.calls) for c in counters) - sum(len(q) for q in quiet),
        "conflicts": sum(c.conflicts for c in counters),
        "late_p50_s": statistics.median(late) if late else None,
        "late_max_s": late[-1] if late else None,
    }
    if samples:  # commands counted by the server, Lua scripts' own calls included
        steps = list(itertools.pairwise(samples))
        at_tick = [(b[1] - a[1]) for a, b in steps if tick - 0.5 <= b[0] and a[0] < tick + 3]
        quiet = [
            (b[1] - a[1], b[0] - a[0]) for a, b in steps if b[0] < tick - 0.5 or a[0] >= tick + 3
        ]
        out["redis_quiet_commands_per_ticker_s"] = (
            sum(n for n, _ in quiet) / sum(d for _, d in quiet) / args.tickers
        )
        out["redis_tick_commands"] = sum(at_tick)
    return out


async def fired_tasks(client: XQueue) -> list[Any]:
    out, cursor = [], None
    while True:
        page = await client.list(type="echo", limit=500, cursor=cursor)
        out += [t for t in page.tasks if t.schedule is not None]
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


async def progress(client: XQueue) -> tuple[int, int]:
    """(successes, tasks still to finish: the backlog's and every fired task's)."""
    assert client.store is not None
    counts = await client.store.counts()
    success = int(counts["status"].get("success", 0))
    return success, int(sum(counts["type"].values())) - success


async def drain(args: argparse.Namespace, store: Store, lead: float | None) -> dict[str, Any]:
    """One drain; with ``lead``, with the schedules, the workers started that long
    before their tick (start-up and half the drain, from the run without them)."""
    with_schedules = lead is not None
    url = store.fresh()
    client = make_app(settings=Settings(store=url, broker=url))
    async with client:
        tick = await add_schedules(client, args, (lead or 0) + args.tasks / 5000) if lead else 0
        for i in range(0, args.tasks, args.batch):
            await client.submit_many([{"type": "noop"}] * min(args.batch, args.tasks - i))
        if lead:
            await sleep_until(client, tick - lead)
        argv = xqueue_command("worker", "xq_app:app", "--concurrency", str(args.concurrency))
        env = xqueue_env([HARNESS], broker=url, store=url, log_level="warning")
        env["XQUEUE_LOAD_PLUGINS"] = store.plugins
        launched = time.perf_counter()
        with Processes([argv] * args.processes, env, store.workdir, name="sched") as procs:
            give_up = time.monotonic() + 120
            while (done := (await progress(client))[0]) == 0:
                procs.check_alive()
                if time.monotonic() > give_up:
                    raise RuntimeError(f"no task finished within 120 s: {procs.tail()}")
                await asyncio.sleep(POLL / 4)
            t0, first_done, first_wall = time.perf_counter(), done, time.time()
            cpu0 = sum(cpu_seconds(p) for p in procs.pids())
            last, seen, left = t0, done, 1
            while left > 0:
                await asyncio.sleep(POLL)
                done, left = await progress(client)
                now = time.perf_counter()
                if done > seen:
                    last, seen = now, done
                elif now - last > STALL:
                    procs.check_alive()
                    break
            elapsed, last_wall = time.perf_counter() - t0, time.time()
            cpu1 = sum(cpu_seconds(p) for p in procs.pids())
        fired = await fired_tasks(client) if with_schedules else []
    timed = done - first_done
    return {
        "run": "on" if with_schedules else "off",
        "tasks": done,
        "complete": left == 0,
        "seconds": elapsed,
        "startup_s": t0 - launched,
        "rate": timed / elapsed if timed > 0 and elapsed > 0 else None,
        "worker_cpu_s_per_1000": 1000 * (cpu1 - cpu0) / timed if timed else None,
        "fired": len(fired),
        "tick_inside_drain": any(first_wall <= (t.scheduled_for or 0) <= last_wall for t in fired),
    }


async def measure(args: argparse.Namespace, store: Store) -> dict[str, Any]:
    print(f"  {store.name}: ticker window", file=sys.stderr, flush=True)
    result: dict[str, Any] = {
        "describe": store.describe(),
        "ticker": await measure_ticker(args, store),
    }
    drains = []
    for round_ in range(args.rounds):
        for run in ("off", "on"):
            print(f"  {store.name}: drain {run} (round {round_ + 1})", file=sys.stderr, flush=True)
            off = drains[-1] if run == "on" else None
            lead = None if off is None else off["startup_s"] + off["seconds"] / 2
            drains.append(await drain(args, store, lead))
            print(f"    {drains[-1]['rate'] or 0:,.0f} tasks/s", file=sys.stderr, flush=True)
    result["drains"] = drains
    rates = {
        run: statistics.median([d["rate"] for d in drains if d["run"] == run and d["rate"]] or [0])
        for run in ("off", "on")
    }
    result["summary"] = {
        **rates,
        "ratio_on_off": rates["on"] / rates["off"] if rates["off"] else None,
    }
    return result


def report(args: argparse.Namespace, result: dict[str, Any]) -> str:
    t, s = result["ticker"], result["summary"]
    lines = [
        result["describe"],
        f"  ticker ({t['tickers']} tickers, {t['window_s']:.0f} s around the tick of "
        f"{args.schedules} schedules):",
        f"    store calls per ticker per second, nothing due: {t['quiet_calls_per_ticker_s']:.2f}",
        f"    store calls in the 3 s of the tick (all tickers): {t['tick_calls']}; "
        f"schedules another ticker had fired first: {t['conflicts']}",
        f"    tasks fired: {t['fired']} (each schedule once: {t['fired_once']}); lateness "
        f"p50 {t['late_p50_s'] or 0:.3f} s, max {t['late_max_s'] or 0:.3f} s",
    ]
    if "redis_tick_commands" in t:
        lines.append(
            f"    redis commands (scripts' own calls included): per ticker per second, "
            f"nothing due, {t['redis_quiet_commands_per_ticker_s']:.1f}; in the 3 s of the "
            f"tick {t['redis_tick_commands']:,} "
            f"({t['redis_tick_commands'] / max(1, t['fired']):.1f} per fired schedule)"
        )
    inside = all(d["tick_inside_drain"] for d in result["drains"] if d["run"] == "on")
    lines.append(
        f"  drain of {args.tasks:,} no-op tasks, {args.processes} x {args.concurrency}: off "
        f"{s['off']:,.0f}/s, on {s['on']:,.0f}/s, on/off {s['ratio_on_off'] or 0:.2f}"
        + ("" if inside else "  (the tick fell outside some drain: see the JSON)")
    )
    return "\n".join(lines)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "redis", "both"), default="both")
    parser.add_argument("--schedules", type=int, default=1000, help="schedules (1000)")
    parser.add_argument("--every", type=int, default=60, help="their period, seconds (60)")
    parser.add_argument("--tickers", type=int, default=2, help="tickers measured (2)")
    parser.add_argument("--window", type=float, default=20.0, help="ticker window, s (20)")
    parser.add_argument("--tasks", type=int, default=20_000, help="drain backlog (20000)")
    parser.add_argument("--batch", type=int, default=1000, help="tasks per submit_many")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--concurrency", type=int, default=50, help="per process (50)")
    parser.add_argument("--rounds", type=int, default=1, help="times the drains are repeated")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="JSON directory")
    args = parser.parse_args(argv)
    for name in (
        "schedules",
        "every",
        "tickers",
        "tasks",
        "batch",
        "processes",
        "concurrency",
        "rounds",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.window < LEAD + 5:
        parser.error(
            f"--window must be at least {LEAD + 5:.0f} s (it starts {LEAD:.0f} s before the tick)"
        )
    args.stores = ["sqlite", "redis"] if args.store == "both" else [args.store]
    return args


def main() -> int:
    args = parse()
    workload = f"{args.schedules} schedules every {args.every} s (no-op echo); no-op drain"
    return store_bench("schedules", args, measure, report, workload)


if __name__ == "__main__":
    run_main(main)
