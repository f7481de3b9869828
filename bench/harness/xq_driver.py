"""Benchmark driver for one xqueue configuration (runs in the project's venv).

``python xq_driver.py --system xqueue-embedded|xqueue-redis|xqueue-kafka ...``;
the harness starts it with the same options as every peer driver.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Adapter, driver_options, package_versions, run_system, write_result  # noqa: E402
from xq_app import make_app  # noqa: E402

from xqueue_core import XQueue  # noqa: E402
from xqueue_core.logs import configure_logging  # noqa: E402
from xqueue_core.testing.processes import xqueue_command, xqueue_env  # noqa: E402

ENQUEUE_CHUNK = 1000
PLUGINS = {"xqueue-embedded": "", "xqueue-redis": "redis", "xqueue-kafka": "redis,kafka"}


class XQueueBench:
    """Backends by configuration; a fresh queue (file, keys or topics) on every reset."""

    def __init__(self, args: Any) -> None:
        self.args = args
        self.system = args.system
        self.loop = asyncio.new_event_loop()
        self.app: XQueue | None = None
        self.generation = 0
        self.broker = self.store = ""
        self.concurrency = args.concurrency or None

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def _urls(self) -> tuple[str, str]:
        self.generation += 1
        redis = self.args.redis_url
        if self.system == "xqueue-embedded":
            path = Path(self.args.workdir) / f"xq-{uuid.uuid4().hex[:8]}.db"
            url = f"sqlite:///{path}"
            return url, url
        if self.system == "xqueue-redis":
            return redis, redis
        prefix = f"bench{self.generation}x{uuid.uuid4().hex[:6]}"
        # fresh topics and group each time; group joins take about half the session timeout
        options = f"prefix={prefix}&group={prefix}&session_timeout_ms=3000"
        options += "&heartbeat_interval_ms=300"
        return f"{self.args.kafka_url}?{options}", redis

    def reset(self) -> None:
        if self.app is not None:
            self.run(self.app.close())
            self.app = None
        if self.system != "xqueue-embedded":
            import redis

            redis.Redis.from_url(self.args.redis_url).flushall()
        self.broker, self.store = self._urls()
        self.app = make_app(broker=self.broker, store=self.store)
        self.run(self.app.open())

    def enqueue(self, kind: str, count: int) -> None:
        assert self.app is not None
        app = self.app

        async def go() -> None:
            for start in range(0, count, ENQUEUE_CHUNK):
                size = min(ENQUEUE_CHUNK, count - start)
                await app.submit_many([{"type": kind, "payload": {}}] * size)

        self.run(go())

    def remaining(self) -> int:
        assert self.app is not None and self.app.store is not None
        counts = self.run(self.app.store.counts())["status"]
        return int(counts.get("pending", 0) + counts.get("processing", 0))

    def completions(self) -> list[tuple[str, float]]:
        """(worker, completed_at) of every finished task in the store."""
        assert self.app is not None and self.app.store is not None
        store = self.app.store

        async def go() -> list[tuple[str, float]]:
            out: list[tuple[str, float]] = []
            cursor = None
            while True:
                page = await store.list_tasks(limit=1000, cursor=cursor)
                out.extend(
                    (t.worker_id or "?", t.completed_at)
                    for t in page.tasks
                    if t.completed_at is not None
                )
                if page.next_cursor is None:
                    return out
                cursor = page.next_cursor

        return list(self.run(go()))

    def roundtrip(self) -> None:
        assert self.app is not None
        app = self.app

        async def go() -> None:
            task = await app.submit("echo", {})
            await app.wait(task.id, timeout=30)  # follows the store's event log

        self.run(go())

    def worker_commands(self, mode: str) -> list[list[str]]:
        argv = xqueue_command("worker", "xq_app:app")
        argv += ["--broker", self.broker, "--store", self.store]
        if mode == "io":
            return [[*argv, "--processes", "2", "--concurrency", str(self.args.io_concurrency)]]
        processes = "1" if mode == "single" else "2"
        extra = ["--concurrency", str(self.concurrency)] if self.concurrency else []
        return [[*argv, "--processes", processes, *extra]]

    def close(self) -> None:
        if self.app is not None:
            self.run(self.app.close())
        self.loop.close()


def main() -> None:
    args, opts = driver_options()
    configure_logging("warning")
    bench = XQueueBench(args)
    env = xqueue_env([HERE], log_level="warning", load_plugins=PLUGINS[args.system])
    env["BENCH_LOG_DIR"] = args.workdir
    os.environ["XQUEUE_LOAD_PLUGINS"] = PLUGINS[args.system]
    per_process = (
        f"concurrency {args.concurrency} (async handlers: docs/operations.md, Tuning)"
        if args.concurrency
        else "concurrency 10 (default)"
    )
    backends = {
        "xqueue-embedded": "sqlite broker+store (one file, WAL)",
        "xqueue-redis": "Redis broker + Redis store",
        "xqueue-kafka": "Kafka broker (Tansu) + Redis store, session timeout 3 s",
    }[args.system]
    config = {
        "noop": f"{backends}; 2 processes, {per_process}; submit_many x{ENQUEUE_CHUNK}",
        "latency": f"{backends}; 2 processes; client waits with app.wait() (event log)",
        "sleep": f"{backends}; 2 processes, concurrency {args.io_concurrency}, async handler",
        "noop_single": f"{backends}; 1 process, {per_process}",
    }
    adapter = Adapter(
        name=args.system,
        config=config,
        reset=bench.reset,
        enqueue=bench.enqueue,
        remaining=bench.remaining,
        roundtrip=bench.roundtrip,
        worker_commands=bench.worker_commands,
        worker_env=env,
        worker_cwd=args.workdir,
        close=bench.close,
        versions=package_versions(
            "xqueue-core", "xqueue-redis", "xqueue-kafka", "redis", "aiokafka"
        ),
        notes=["records every task's full lifecycle (record, events, stats) in the store"],
        single_process_drain=args.system == "xqueue-kafka",
        completions=bench.completions,
        redis_url=None if args.system == "xqueue-embedded" else args.redis_url,
    )
    write_result(args.out, run_system(adapter, opts))


if __name__ == "__main__":
    main()
