"""arq on Redis (its own virtualenv: arq 0.28 requires redis-py < 6)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from arq.connections import RedisSettings

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ENQUEUE_CONCURRENCY = 100  # one producer, 100 enqueues in flight (no bulk API)


async def noop(ctx: dict[str, Any]) -> None:
    return None


async def echo(ctx: dict[str, Any]) -> int:
    return 1


async def sleep10(ctx: dict[str, Any]) -> None:
    await asyncio.sleep(0.01)


class WorkerSettings:
    functions = [noop, echo, sleep10]
    redis_settings = RedisSettings.from_dsn(REDIS_URL)
    max_jobs = int(os.environ.get("BENCH_ARQ_MAX_JOBS", "10"))  # 10 is arq's default


def make_adapter(args: Any) -> Any:
    from arq import create_pool
    from common import Adapter, package_versions
    from peer_base import BIN, HERE, worker_env

    loop = asyncio.new_event_loop()
    pool = loop.run_until_complete(create_pool(RedisSettings.from_dsn(args.redis_url)))
    names = {"noop": "noop", "sleep": "sleep10"}

    def reset() -> None:
        loop.run_until_complete(pool.flushall())

    def enqueue(kind: str, count: int) -> None:
        async def go() -> None:
            for start in range(0, count, ENQUEUE_CONCURRENCY):
                size = min(ENQUEUE_CONCURRENCY, count - start)
                await asyncio.gather(*(pool.enqueue_job(names[kind]) for _ in range(size)))

        loop.run_until_complete(go())

    def remaining() -> int:
        # a job leaves the queue zset when it finishes
        return int(loop.run_until_complete(pool.zcard("arq:queue")))

    def roundtrip() -> None:
        async def go() -> None:
            job = await pool.enqueue_job("echo")
            assert job is not None
            await job.result(timeout=30, poll_delay=0.001)

        loop.run_until_complete(go())

    def commands(mode: str) -> list[list[str]]:
        argv = [str(BIN / "arq"), "arq_peer.WorkerSettings"]
        return [argv, list(argv)]

    env = worker_env(args)
    io_env = worker_env(args, BENCH_ARQ_MAX_JOBS=str(args.io_concurrency))

    adapter = Adapter(
        name="arq",
        config={
            "noop": "2 x arq worker (one process per core), max_jobs 10, poll_delay 0.5 s "
            f"(defaults); enqueue_job, {ENQUEUE_CONCURRENCY} in flight (no bulk API)",
            "latency": "2 x arq worker, poll_delay 0.5 s (default: workers poll the queue); "
            "client polls the result every 1 ms",
            "sleep": f"2 x arq worker, max_jobs {args.io_concurrency}, asyncio.sleep",
        },
        reset=reset,
        enqueue=enqueue,
        remaining=remaining,
        roundtrip=roundtrip,
        worker_commands=commands,
        worker_env=env,
        worker_cwd=str(HERE),
        close=lambda: loop.run_until_complete(pool.aclose()),
        versions=package_versions("arq", "redis"),
        notes=["keeps a job key and a result key per job (keep_result 3600 s)"],
    )
    original = adapter.worker_commands

    def with_env(mode: str) -> list[list[str]]:
        adapter.worker_env = io_env if mode == "io" else env
        return original(mode)

    adapter.worker_commands = with_env
    return adapter
