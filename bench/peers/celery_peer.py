"""Celery 5 on Redis (broker and result backend), prefork pool: the documented default."""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    result_expires=600,
)


@app.task(ignore_result=True)
def noop() -> None:
    return None


@app.task
def echo() -> int:
    return 1


@app.task(ignore_result=True)
def sleep10() -> None:
    time.sleep(0.01)  # monkey-patched by the gevent pool in (c)


def make_adapter(args: Any) -> Any:
    import redis
    from common import Adapter, package_versions
    from peer_base import BIN, HERE, worker_env

    client = redis.Redis.from_url(args.redis_url)
    tasks = {"noop": noop, "sleep": sleep10}

    def reset() -> None:
        # Keep kombu's exchange bindings: the producer declared them once and caches that.
        keys = [k for k in client.scan_iter(count=1000) if not k.startswith(b"_kombu.binding")]
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])

    def enqueue(kind: str, count: int) -> None:
        task = tasks[kind]
        with app.producer_or_acquire() as producer:  # one connection for the whole batch
            for _ in range(count):
                task.apply_async(producer=producer)

    def remaining() -> int:
        # waiting + delivered-not-yet-acked (early ack: acked when the task starts)
        return int(client.llen("celery")) + int(client.hlen("unacked"))

    def roundtrip() -> None:
        echo.delay().get(timeout=30)

    def commands(mode: str) -> list[list[str]]:
        base = [str(BIN / "celery"), "-A", "celery_peer", "worker", "--loglevel", "WARNING"]
        if mode == "io":
            return [
                [*base, "-P", "gevent", "-c", str(args.io_concurrency), "-n", f"io{i}@%h"]
                for i in (1, 2)
            ]
        return [[*base, "-P", "prefork", "-c", "2", "-n", "w1@%h"]]

    with app.producer_or_acquire() as producer:  # declare the queue before the first reset
        echo.apply_async(producer=producer, ignore_result=True)

    return Adapter(
        name="celery",
        config={
            "noop": "prefork -c 2 (= cores), prefetch x4, early ack; apply_async loop on one "
            "producer (no bulk API); ignore_result",
            "latency": "prefork -c 2; Redis result backend (pub/sub)",
            "sleep": f"2 workers -P gevent -c {args.io_concurrency} (I/O: gevent, time.sleep)",
        },
        reset=reset,
        enqueue=enqueue,
        remaining=remaining,
        roundtrip=roundtrip,
        worker_commands=commands,
        worker_env=worker_env(args),
        worker_cwd=str(HERE),
        versions=package_versions("celery", "kombu", "redis", "gevent"),
        notes=["noop tasks keep no result; no per-task lifecycle record"],
    )
