"""Helpers for the Redis tests: store URLs, worker processes, what their handlers observed."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import redis.asyncio as aioredis

from xqueue_core.testing.services import ServiceProcess
from xqueue_core.testing.workers import WorkerProcesses

WORKER_SCRIPT = Path(__file__).with_name("redis_worker.py")


def url_for(server: ServiceProcess, prefix: str | None = None) -> str:
    """A store URL on ``server`` with a fresh (or the given) key prefix."""
    return f"redis://127.0.0.1:{server.port}/0?prefix={prefix or 't' + uuid.uuid4().hex[:12]}"


class Observed:
    """What the handlers recorded in Redis: the most running at once, each start's count."""

    def __init__(self, server: ServiceProcess) -> None:
        self.prefix = f"obs{uuid.uuid4().hex[:8]}"
        self.url = f"redis://127.0.0.1:{server.port}/1"
        self.client = aioredis.from_url(self.url, decode_responses=True)

    async def max(self, task_type: str) -> int:
        return int(await self.client.get(f"{self.prefix}:{task_type}:max") or 0)

    async def starts(self, task_type: str) -> dict[str, int]:
        raw = await self.client.hgetall(f"{self.prefix}:{task_type}:starts")
        return {k: int(v) for k, v in raw.items()}

    async def key_max(self, task_type: str) -> dict[str, int]:
        """The most runs at once of each flow key of a keyed type."""
        raw = await self.client.hgetall(f"{self.prefix}:{task_type}:keymax")
        return {k: int(v) for k, v in raw.items()}


class Workers(WorkerProcesses):
    """Worker processes running ``redis_worker.py``; each logs its runs under ``directory``."""

    def __init__(
        self, directory: Path, store: str, broker: str, obs: str | None = None, **env: str
    ) -> None:
        settings = {
            "XQ_STORE": store,
            "XQ_BROKER": broker,
            "XQ_DIR": str(directory),
            "XQUEUE_LOAD_PLUGINS": "redis",
            **env,
        }
        if obs is not None:
            settings["XQ_OBS"] = obs
        super().__init__(directory, WORKER_SCRIPT, settings)

    def runs(self, event: str = "start") -> Counter[str]:
        """How many times each task id was started (or finished) across every process."""
        return Counter(w[1] for w in self.run_lines() if len(w) == 3 and w[0] == event)

    def runs_by_pid(self) -> dict[str, int]:
        """Which process finished each task."""
        return {w[1]: int(w[2]) for w in self.run_lines() if len(w) == 3 and w[0] == "done"}
