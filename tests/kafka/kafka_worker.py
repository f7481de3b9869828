"""A worker process for the Kafka fault tests: ``python kafka_worker.py``, set up by XQ_* env.

XQ_BROKER / XQ_STORE    backend URLs (kafka://..., sqlite:///...)
XQ_DIR                  directory for this process's run log and ready flag
XQ_LEASE, XQ_BEAT       lease_ttl and heartbeat_interval
XQ_CONCURRENCY          tasks at once in this process

Handlers of every type log ``start``/``done`` lines with the task id and pid,
and sleep ``payload["sleep"]`` seconds; the type ``keyed`` has the flow key
``payload["tenant"]``. The ready flag appears once the worker's
consumer holds partitions.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from xqueue_core import XQueue

OUT = Path(os.environ["XQ_DIR"])
TYPES = ("work", "A", "B")

app = XQueue(
    store=os.environ["XQ_STORE"],
    broker=os.environ["XQ_BROKER"],
    lease_ttl=float(os.environ.get("XQ_LEASE", "2")),
    heartbeat_interval=float(os.environ.get("XQ_BEAT", "0.25")),
    maintenance_interval=0.1,
    publish_grace=1.0,
    grace_period=5.0,
)
_log = (OUT / f"runs.{os.getpid()}").open("a", buffering=1)


def _handler(task_type: str) -> Any:
    async def run(payload: dict[str, Any], ctx: Any) -> None:
        _log.write(f"start {ctx.task_id} {os.getpid()} {task_type}\n")
        await asyncio.sleep(float(payload.get("sleep", 0)))
        _log.write(f"done {ctx.task_id} {os.getpid()} {task_type}\n")

    return run


for _type in TYPES:
    app.task(_type)(_handler(_type))
app.task("keyed", key="tenant")(_handler("keyed"))


async def _announce_ready() -> None:
    while not app.broker or not app.broker._tracker.active():  # type: ignore[attr-defined]
        await asyncio.sleep(0.02)
    (OUT / f"ready.{os.getpid()}").write_text("ok")


async def main() -> None:
    worker = app.worker(concurrency=int(os.environ.get("XQ_CONCURRENCY", "10")))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await worker.start()
    ready = asyncio.create_task(_announce_ready())
    await stop.wait()
    ready.cancel()
    await worker.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
