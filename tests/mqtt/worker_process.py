"""A worker in its own process, for the last-will test: ``python worker_process.py DB URL``."""

from __future__ import annotations

import asyncio
import sys

import xqueue_mqtt

from xqueue_core import XQueue


async def main(db_url: str, notify_url: str) -> None:
    app = XQueue(
        store=db_url,
        broker=db_url,
        notify=[notify_url],
        plugins=[xqueue_mqtt.plugin],
        autoload_plugins=False,
    )

    @app.task("job")
    async def job(payload: dict[str, object]) -> None:
        return None

    async with app.worker(concurrency=1, worker_id="will-test-worker"):
        await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
