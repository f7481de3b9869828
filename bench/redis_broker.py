"""Redis Streams broker + Redis store: enqueue/s, drain/s with 2 worker processes, latency.

    .venv/bin/python bench/redis_broker.py [--tasks 10000] [--concurrency 50] [--aof no]

Starts a private redis-server on a free loopback port and measures, with
``XQUEUE_BROKER`` and ``XQUEUE_STORE`` both on it:

* ``enqueue``: ``--tasks`` no-op tasks submitted in batches of 500 with no
  worker running (tasks/s), and the broker alone publishing the same number of
  messages in batches of 500 (messages/s);
* ``memory``: bytes per queued message in the band streams (``MEMORY USAGE``)
  and per queued task in all of Redis (``used_memory``, store records included);
* ``drain``: 2 worker processes (``xqueue worker``) drain that backlog; timed
  from the first completed task to the last, so worker start-up is not counted;
  Redis commands per 1000 tasks (``INFO commandstats``, whole Redis: broker and store);
* ``latency``: sequential submit→done on idle, warmed-up workers (p50/p99),
  from just before ``submit`` to the task's ``completed_at`` (same host clock).

Numbers are for this machine; run it on an idle one.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import structlog

from xqueue_core import XQueue
from xqueue_core.ids import new_id
from xqueue_core.models import Message
from xqueue_core.testing import reaper
from xqueue_core.testing.services import ServiceProcess

HERE = Path(__file__).resolve().parent
XQUEUE = str(Path(sys.executable).parent / "xqueue")
BATCH = 500
# Counted by Redis, also when a script calls them. XADD includes the store's event log
# (two events per task); EVALSHA includes the store's scripts.
COMMANDS = ("xadd", "xreadgroup", "xautoclaim", "xack", "xdel", "xclaim", "exec", "evalsha")

app = XQueue("bench-redis-broker")


@app.task("noop")
async def noop(payload: dict[str, Any]) -> None:
    """Returns at once: the queue's own cost is all that is measured."""
    return None


def redis_command(aof: str) -> Callable[[int, Path], list[str]]:
    def command(port: int, workdir: Path) -> list[str]:
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)]
        argv += ["--save", "", "--daemonize", "no", "--maxmemory-policy", "noeviction"]
        if aof == "no":
            return [*argv, "--appendonly", "no"]
        return [*argv, "--appendonly", "yes", "--appendfsync", aof]

    return command


def start_workers(
    url: str, count: int, concurrency: int, logdir: Path
) -> list[subprocess.Popen[bytes]]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("XQUEUE_")},
        "XQUEUE_BROKER": url,
        "XQUEUE_STORE": url,
        "XQUEUE_LOAD_PLUGINS": "redis",
        "XQUEUE_LOG_LEVEL": "warning",
        "PYTHONPATH": str(HERE),
    }
    procs = []
    for i in range(count):
        with (logdir / f"worker-{i}.log").open("ab") as out:
            procs.append(
                subprocess.Popen(
                    [XQUEUE, "worker", "redis_broker:app", "--concurrency", str(concurrency)],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        reaper.watch(procs[-1].pid)
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        reaper.forget(proc.pid)


async def command_counts(client: Any) -> dict[str, int]:
    info = await client.info("commandstats")
    return {name: int(info.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in COMMANDS}


async def successes(bench: XQueue) -> int:
    assert bench.store is not None
    counts = await bench.store.counts()
    return int(counts["status"].get("success", 0))


async def measure(args: argparse.Namespace, base: str, logdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    url = f"{base}?prefix=bench"
    bench = XQueue("bench-client", broker=url, store=url)
    bench.task("noop")(noop)  # so submits validate before any worker announced the type
    async with bench:
        broker: Any = bench.broker
        client = aioredis.from_url(base, decode_responses=True)  # INFO, MEMORY USAGE
        n = args.tasks

        # broker alone: publish, then fetch + ack through one consumer
        lone = type(broker)(f"{base}?prefix=bench-broker", bench.settings)
        await lone.open()
        messages = [Message(new_id(), "noop", 0) for _ in range(n)]
        started = time.perf_counter()
        for i in range(0, n, BATCH):
            await lone.publish(messages[i : i + BATCH])
        out["broker publish msg/s"] = n / (time.perf_counter() - started)
        streams = lone.layout.streams
        used = sum([int(await client.memory_usage(k, samples=0) or 0) for k in streams])
        out["stream bytes/queued message"] = used / n
        started = time.perf_counter()
        taken = 0
        while taken < n:
            got = await lone.fetch(100, 1.0)
            await lone.ack(got)
            taken += len(got)
        out["broker fetch+ack msg/s (1 consumer, 100/fetch)"] = n / (time.perf_counter() - started)
        used_after = sum([int(await client.memory_usage(k, samples=0) or 0) for k in streams])
        out["stream bytes after all acked"] = used_after
        await lone.close()

        # the app: bulk enqueue with no worker running
        before = int((await client.info("memory"))["used_memory"])
        started = time.perf_counter()
        for i in range(0, n, BATCH):
            await bench.submit_many([{"type": "noop", "payload": {}}] * min(BATCH, n - i))
        out["enqueue tasks/s (app.submit_many)"] = n / (time.perf_counter() - started)
        after = int((await client.info("memory"))["used_memory"])
        out["redis bytes/queued task (store + broker)"] = (after - before) / n

        # drain with 2 worker processes
        commands_before = await command_counts(client)
        procs = start_workers(url, args.workers, args.concurrency, logdir)
        try:
            while (done := await successes(bench)) == 0:
                await asyncio.sleep(0.005)
            first, first_done = time.perf_counter(), done
            while (done := await successes(bench)) < n:
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - first
            out[f"drain tasks/s ({args.workers} workers x {args.concurrency})"] = (
                n - first_done
            ) / elapsed
            commands = await command_counts(client)
            for name in COMMANDS:
                calls = commands[name] - commands_before[name]
                out[f"  {name} calls per 1000 tasks (drain)"] = 1000 * calls / n

            # latency: sequential submit -> done on idle, warm workers
            latencies = []
            for _ in range(args.latency):
                t0 = time.time()
                task = await bench.submit("noop", {})
                done_task = await bench.wait(task.id, timeout=30)
                assert done_task.completed_at is not None
                latencies.append(done_task.completed_at - t0)
            latencies.sort()
            out["latency p50 ms"] = 1000 * statistics.median(latencies)
            out["latency p99 ms"] = 1000 * latencies[max(0, int(len(latencies) * 0.99) - 1)]
        finally:
            stop_workers(procs)
            await client.aclose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency", type=int, default=300, help="sequential round trips")
    parser.add_argument("--aof", choices=("no", "everysec", "always"), default="no")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with ServiceProcess("redis-bench", redis_command(args.aof)) as server:
        base = f"redis://127.0.0.1:{server.port}/0"
        results = asyncio.run(measure(args, base, server.workdir))
    print(f"\nRedis Streams broker + Redis store, {args.tasks} tasks, AOF {args.aof}")
    for name, value in results.items():
        print(f"  {name:<52} {value:>12,.1f}")


if __name__ == "__main__":
    main()
