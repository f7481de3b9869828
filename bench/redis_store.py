"""Redis store beside the embedded SQLite store: tasks/s and store round trips per task.

    .venv/bin/python bench/redis_store.py [--tasks 3000] [--concurrency 50]

Starts a private redis-server on a free loopback port (AOF off, then
``appendfsync everysec``) and measures, for each store:

* ``lifecycle``: the store calls of a task's life exactly as the core makes
  them (``now``, ``create``, ``mark_queued``, ``claim``, ``finish``), one task
  per call and in batches of 50 — store-only throughput and calls per task;
* ``app``: an in-process worker (SQLite broker on a temp file, handlers that
  return at once) draining ``--tasks`` tasks submitted in batches of 100 —
  end-to-end tasks/s, and every store round trip counted (background loops
  included: scheduling, maintenance, lease renewal).

Round trips are counted at the client: one per Redis command or script call
(EVALSHA) the store sends. It prints a table; numbers are for this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import structlog
import xqueue_redis.plugin
from harness.services import redis_service
from xqueue_redis.connection import Connection

from xqueue_core import XQueue
from xqueue_core.ids import new_id
from xqueue_core.models import Finish, FinishKind, Task
from xqueue_core.settings import Settings
from xqueue_core.sqlite.store import SqliteStore

SENT: Counter[str] = Counter()


def _count_round_trips() -> None:
    """Count every round trip the Redis store makes: on lanes (the default on
    ``redis://``) each command, pipeline or script call goes through ``_on_lane``."""
    on_lane = Connection._on_lane

    async def counted(self: Connection, doing: str, run: Any) -> Any:
        SENT[doing] += 1
        return await on_lane(self, doing, run)

    Connection._on_lane = counted  # type: ignore[method-assign]


async def lifecycle(store: Any, tasks: int, batch: int) -> float:
    """Tasks/s through the store alone, ``batch`` tasks per call."""
    started = time.perf_counter()
    for _ in range(tasks // batch):
        await store.now()
        chunk = [Task(id=new_id(), type="t") for _ in range(batch)]
        await store.create(chunk, 10.0)
        ids = [t.id for t in chunk]
        await store.mark_queued(ids)
        await store.claim(ids, "w1", 30.0)
        await store.finish([Finish(i, "w1", FinishKind.SUCCESS) for i in ids])
    return tasks / (time.perf_counter() - started)


async def app_run(store_url: str, broker_url: str, tasks: int, concurrency: int) -> float:
    """Tasks/s end to end: submit in batches of 100, one in-process worker drains them."""
    app = XQueue(
        store=store_url,
        broker=broker_url,
        autoload_plugins=False,
        plugins=[xqueue_redis.plugin],
        publish_grace=10.0,
    )

    @app.task("noop")
    async def noop(payload: dict[str, Any]) -> None:
        return None

    async with app:
        worker = app.worker(concurrency=concurrency)
        async with worker:
            started = time.perf_counter()
            for first in range(0, tasks, 100):
                await app.submit_many([{"type": "noop", "payload": {}}] * min(100, tasks - first))
            assert app.store is not None
            while (await app.store.counts())["status"].get("success", 0) < tasks:
                await asyncio.sleep(0.02)
            return tasks / (time.perf_counter() - started)


async def measure(args: argparse.Namespace) -> list[tuple[str, str, float, float]]:
    rows: list[tuple[str, str, float, float]] = []
    settings = Settings(publish_grace=10.0)
    tmp = Path(tempfile.mkdtemp(prefix="xqueue-bench-"))
    for aof in (False, True):
        label = "redis (AOF everysec)" if aof else "redis (no persistence)"
        with redis_service("everysec" if aof else None) as server:
            url = f"redis://127.0.0.1:{server.port}/0?prefix=bench{int(aof)}"
            store = xqueue_redis.RedisStore(url, settings)
            await store.open()
            await lifecycle(store, 100, 1)  # load the scripts
            for batch in (1, 50):
                SENT.clear()
                rate = await lifecycle(store, args.tasks if batch > 1 else args.tasks // 3, batch)
                done = args.tasks if batch > 1 else args.tasks // 3
                rows.append((label, f"lifecycle, batch {batch}", rate, sum(SENT.values()) / done))
            await store.close()
            SENT.clear()
            broker = f"sqlite:///{tmp / f'broker{int(aof)}.db'}"
            rate = await app_run(url + "&retries=3", broker, args.tasks, args.concurrency)
            rows.append((label, "app: submit + worker", rate, sum(SENT.values()) / args.tasks))
            print(f"  app round trips by call: {dict(SENT.most_common())}")
    sqlite_url = f"sqlite:///{tmp / 'store.db'}"
    store = SqliteStore(sqlite_url, settings)
    await store.open()
    for batch in (1, 50):
        done = args.tasks if batch > 1 else args.tasks // 3
        rows.append(("sqlite (embedded)", f"lifecycle, batch {batch}",
                     await lifecycle(store, done, batch), float("nan")))  # fmt: skip
    await store.close()
    rate = await app_run(f"sqlite:///{tmp / 'app.db'}", f"sqlite:///{tmp / 'app.db'}",
                         args.tasks, args.concurrency)  # fmt: skip
    rows.append(("sqlite (embedded)", "app: submit + worker", rate, float("nan")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    _count_round_trips()
    rows = asyncio.run(measure(args))
    print(f"\n{'store':<24} {'workload':<24} {'tasks/s':>9} {'round trips/task':>17}")
    for store, workload, rate, trips in rows:
        shown = "-" if trips != trips else f"{trips:.2f}"
        print(f"{store:<24} {workload:<24} {rate:>9.0f} {shown:>17}")


if __name__ == "__main__":
    main()
