"""Dramatiq on Redis with the Results middleware (Redis backend)."""

from __future__ import annotations

import os
import time
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
broker = RedisBroker(url=REDIS_URL)
broker.add_middleware(Results(backend=RedisBackend(url=REDIS_URL)))
dramatiq.set_broker(broker)


@dramatiq.actor
def noop() -> None:
    return None


@dramatiq.actor(store_results=True)
def echo() -> int:
    return 1


@dramatiq.actor
def sleep10() -> None:
    time.sleep(0.01)  # monkey-patched under dramatiq-gevent in (c)


def make_adapter(args: Any) -> Any:
    import redis
    from common import Adapter, package_versions
    from peer_base import BIN, HERE, worker_env

    client = redis.Redis.from_url(args.redis_url)
    actors = {"noop": noop, "sleep": sleep10}

    def reset() -> None:
        client.flushall()

    def enqueue(kind: str, count: int) -> None:
        actor = actors[kind]
        for _ in range(count):  # no bulk API: group().run() is the same loop
            actor.send()

    def remaining() -> int:
        # a message leaves the .msgs hash only when it is acked (after it ran)
        return int(client.hlen("dramatiq:default.msgs"))

    def roundtrip() -> None:
        echo.send().get_result(block=True, timeout=30_000)

    def commands(mode: str) -> list[list[str]]:
        if mode == "io":
            return [
                [
                    str(BIN / "dramatiq-gevent"),
                    "dramatiq_peer",
                    "--processes",
                    "2",
                    "--threads",
                    str(args.io_concurrency),
                ]
            ]
        return [[str(BIN / "dramatiq"), "dramatiq_peer", "--processes", "2", "--threads", "8"]]

    return Adapter(
        name="dramatiq",
        config={
            "noop": "--processes 2 (= cores) --threads 8 (defaults); send() loop (no bulk API)",
            "latency": "--processes 2 --threads 8; Results middleware, blocking get (BRPOPLPUSH)",
            "sleep": f"dramatiq-gevent --processes 2 --threads {args.io_concurrency} "
            "(I/O: gevent, time.sleep)",
        },
        reset=reset,
        enqueue=enqueue,
        remaining=remaining,
        roundtrip=roundtrip,
        worker_commands=commands,
        worker_env=worker_env(args),
        worker_cwd=str(HERE),
        versions=package_versions("dramatiq", "redis", "gevent"),
        notes=["no per-task lifecycle record (message hash deleted on ack)"],
    )
