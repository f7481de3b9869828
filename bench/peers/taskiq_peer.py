"""Taskiq with taskiq-redis: RedisStreamBroker (acknowledged) + Redis result backend."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ENQUEUE_CONCURRENCY = 100  # one producer, 100 kicks in flight (no bulk API)

broker = RedisStreamBroker(url=REDIS_URL).with_result_backend(
    RedisAsyncResultBackend(redis_url=REDIS_URL, result_ex_time=600)
)


@broker.task
async def noop() -> None:
    return None


@broker.task
async def echo() -> int:
    return 1


@broker.task
async def sleep10() -> None:
    await asyncio.sleep(0.01)


def make_adapter(args: Any) -> Any:
    import redis.asyncio as aredis
    from common import Adapter, package_versions
    from peer_base import BIN, HERE, worker_env

    loop = asyncio.new_event_loop()
    client = aredis.Redis.from_url(args.redis_url)
    loop.run_until_complete(broker.startup())
    tasks = {"noop": noop, "sleep": sleep10}

    def reset() -> None:
        loop.run_until_complete(client.flushall())
        # the consumer group starts at "$": declare it before anything is queued
        loop.run_until_complete(broker._declare_consumer_group())

    def enqueue(kind: str, count: int) -> None:
        task = tasks[kind]

        async def go() -> None:
            for start in range(0, count, ENQUEUE_CONCURRENCY):
                size = min(ENQUEUE_CONCURRENCY, count - start)
                await asyncio.gather(*(task.kiq() for _ in range(size)))

        loop.run_until_complete(go())

    def remaining() -> int:
        async def go() -> int:
            groups = await client.xinfo_groups("taskiq")
            group = next(g for g in groups if g["name"] in (b"taskiq", "taskiq"))
            return int(group["lag"] or 0) + int(group["pending"])

        return loop.run_until_complete(go())

    def roundtrip() -> None:
        async def go() -> None:
            handle = await echo.kiq()
            await handle.wait_result(check_interval=0.001, timeout=30)

        loop.run_until_complete(go())

    def commands(mode: str) -> list[list[str]]:
        argv = [
            str(BIN / "taskiq"),
            "worker",
            "taskiq_peer:broker",
            "--workers",
            "2",
            "--log-level",
            "WARNING",
        ]
        if mode == "io":
            argv += ["--max-async-tasks", str(args.io_concurrency)]
        return [argv]

    return Adapter(
        name="taskiq",
        config={
            "noop": "taskiq worker --workers 2 (default), max-async-tasks 100 (default), "
            f"ack when saved; kiq(), {ENQUEUE_CONCURRENCY} in flight (no bulk API)",
            "latency": "--workers 2; result backend; client polls the result every 1 ms",
            "sleep": f"--workers 2 --max-async-tasks {args.io_concurrency}, asyncio.sleep",
        },
        reset=reset,
        enqueue=enqueue,
        remaining=remaining,
        roundtrip=roundtrip,
        worker_commands=commands,
        worker_env=worker_env(args),
        worker_cwd=str(HERE),
        close=lambda: loop.run_until_complete(broker.shutdown()),
        versions=package_versions("taskiq", "taskiq-redis", "redis"),
        notes=["stores every task's result (the result backend applies to all tasks)"],
    )
