"""RQ 2: one forking ``rq worker`` per core (RQ runs one job at a time per worker)."""

from __future__ import annotations

import time
from typing import Any


def noop() -> None:
    return None


def echo() -> int:
    return 1


def sleep10() -> None:
    time.sleep(0.01)


def make_adapter(args: Any) -> Any:
    import redis
    from common import Adapter, package_versions
    from peer_base import BIN, HERE, worker_env
    from rq import Queue

    client = redis.Redis.from_url(args.redis_url)
    queue = Queue("default", connection=client)
    funcs = {"noop": noop, "sleep": sleep10}
    state = {"total": 0}

    def reset() -> None:
        client.flushall()

    def enqueue(kind: str, count: int) -> None:
        func = funcs[kind]
        state["total"] = count
        for start in range(0, count, 1000):  # the bulk API, 1000 jobs per pipeline
            size = min(1000, count - start)
            queue.enqueue_many([Queue.prepare_data(func) for _ in range(size)])

    def remaining() -> int:
        finished = client.zcard("rq:finished:default") + client.zcard("rq:failed:default")
        return int(state["total"] - finished)

    def roundtrip() -> None:
        job = queue.enqueue(echo)
        result = job.latest_result(timeout=30)  # blocks on the job's result stream
        if result is None:
            raise TimeoutError(f"rq job {job.id} has no result after 30 s")

    def commands(mode: str) -> list[list[str]]:
        argv = [str(BIN / "rq"), "worker", "--url", args.redis_url, "--quiet", "default"]
        return [argv, list(argv)]

    return Adapter(
        name="rq",
        config={
            "noop": "2 x rq worker (one per core, forks per job, the default); enqueue_many x1000",
            "latency": "2 x rq worker; job.latest_result(timeout) (blocking stream read)",
            "sleep": "2 x rq worker (no in-process concurrency in RQ: time.sleep in the job)",
        },
        reset=reset,
        enqueue=enqueue,
        remaining=remaining,
        roundtrip=roundtrip,
        worker_commands=commands,
        worker_env=worker_env(args),
        worker_cwd=str(HERE),
        versions=package_versions("rq", "redis"),
        notes=["keeps a job hash and finished registry (result_ttl 500 s)"],
    )
