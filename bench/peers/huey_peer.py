"""Huey on Redis; ``BENCH_GEVENT=1`` monkey-patches for the greenlet worker type."""

from __future__ import annotations

import os

if os.environ.get("BENCH_GEVENT") == "1":
    from gevent import monkey

    monkey.patch_all()

import time
from typing import Any

from huey import RedisHuey

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# notify_result: result waits use BLPOP instead of polling (documented low-latency option)
huey = RedisHuey("bench", url=REDIS_URL, notify_result=True)


@huey.task()
def noop() -> None:
    return None


@huey.task()
def echo() -> int:
    return 1


@huey.task()
def sleep10() -> None:
    time.sleep(0.01)


def make_adapter(args: Any) -> Any:
    import redis
    from common import Adapter, package_versions
    from peer_base import BIN, HERE, worker_env

    client = redis.Redis.from_url(args.redis_url)
    tasks = {"noop": noop, "sleep": sleep10}

    def reset() -> None:
        client.flushall()

    def enqueue(kind: str, count: int) -> None:
        task = tasks[kind]
        for _ in range(count):  # no bulk enqueue API
            task()

    def remaining() -> int:
        return int(huey.pending_count())

    def roundtrip() -> None:
        echo().get(blocking=True, timeout=30)

    def commands(mode: str) -> list[list[str]]:
        argv = [str(BIN / "huey_consumer"), "huey_peer.huey", "--quiet"]
        if mode == "io":
            # two consumers: a greenlet consumer is one process
            io = [*argv, "-k", "greenlet", "-w", str(args.io_concurrency)]
            return [io, list(io)]
        return [[*argv, "-k", "process", "-w", "2"]]

    adapter = Adapter(
        name="huey",
        config={
            "noop": "huey_consumer -k process -w 2 (one per core); task() loop (no bulk API)",
            "latency": "-k process -w 2; notify_result=True (BLPOP result wait)",
            "sleep": f"2 x huey_consumer -k greenlet -w {args.io_concurrency} "
            "(I/O: gevent, time.sleep)",
        },
        reset=reset,
        enqueue=enqueue,
        remaining=remaining,
        roundtrip=roundtrip,
        worker_commands=commands,
        worker_env=worker_env(args),
        worker_cwd=str(HERE),
        versions=package_versions("huey", "redis", "gevent"),
        notes=["drain counts a task done when a worker has taken it (no ack in Huey)"],
    )
    plain, patched = worker_env(args), worker_env(args, BENCH_GEVENT="1")
    original = adapter.worker_commands

    def with_env(mode: str) -> list[list[str]]:
        adapter.worker_env = patched if mode == "io" else plain
        return original(mode)

    adapter.worker_commands = with_env
    return adapter
