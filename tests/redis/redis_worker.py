"""A worker process for the Redis fault tests: ``python redis_worker.py``, set up by XQ_* env.

XQ_STORE / XQ_BROKER    backend URLs
XQ_OBS, XQ_OBS_PREFIX   where handlers record concurrent runs in Redis (optional): per
                        type, and per flow key for the keyed type
XQ_DIR                  directory for this process's run log and ready flag
XQ_SKEW                 seconds added to this process's clock (time.time)
XQ_LEASE, XQ_BEAT       lease_ttl and heartbeat_interval
XQ_CONCURRENCY          tasks at once in this process
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

SKEW = float(os.environ.get("XQ_SKEW", "0"))
if SKEW:
    _real_time = time.time
    _real_time_ns = time.time_ns
    time.time = lambda: _real_time() + SKEW
    time.time_ns = lambda: _real_time_ns() + int(SKEW * 1e9)

from xqueue_core import XQueue  # noqa: E402

OUT = Path(os.environ["XQ_DIR"])
OBS_URL = os.environ.get("XQ_OBS")
OBS = os.environ.get("XQ_OBS_PREFIX", "obs") + ":"
TRACK = """
local n = redis.call('INCR', KEYS[1])
if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end
return n
"""
TRACK_KEY = """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if n > tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') then
  redis.call('HSET', KEYS[2], ARGV[1], n)
end
return n
"""

app = XQueue(
    store=os.environ["XQ_STORE"],
    broker=os.environ["XQ_BROKER"],
    lease_ttl=float(os.environ.get("XQ_LEASE", "2")),
    heartbeat_interval=float(os.environ.get("XQ_BEAT", "0.3")),
    maintenance_interval=0.1,
    publish_grace=1.0,
    grace_period=5.0,
)
_obs: Any = None
_log = (OUT / f"runs.{os.getpid()}").open("a", buffering=1)


def _record(event: str, task_id: str) -> None:
    _log.write(f"{event} {task_id} {os.getpid()}\n")


async def _observe(delta: int, task_type: str, task_id: str, key: str | None = None) -> None:
    """Count a run in (delta 1) or out (delta -1): of its type, and of its key if it has one
    (``{type}:keynow`` / ``{type}:keymax``: hashes by key)."""
    global _obs
    if OBS_URL is None:
        return
    if _obs is None:
        import redis.asyncio as aioredis

        _obs = aioredis.from_url(OBS_URL)
    if delta > 0:
        n = await _obs.eval(TRACK, 2, f"{OBS}{task_type}:now", f"{OBS}{task_type}:max")
        await _obs.hset(f"{OBS}{task_type}:starts", task_id, n)
        if key is not None:
            await _obs.eval(
                TRACK_KEY, 2, f"{OBS}{task_type}:keynow", f"{OBS}{task_type}:keymax", key
            )
    else:
        if key is not None:
            await _obs.hincrby(f"{OBS}{task_type}:keynow", key, -1)
        await _obs.decr(f"{OBS}{task_type}:now")


def _handler(task_type: str, key_field: str | None = None) -> Any:
    async def run(payload: dict[str, Any], ctx: Any) -> dict[str, Any]:
        _record("start", ctx.task_id)
        key = None if key_field is None else str(payload[key_field])
        await _observe(1, task_type, ctx.task_id, key)
        try:
            slow = payload.get("slow_pid") == os.getpid()
            await asyncio.sleep(float(payload.get("slow_sleep" if slow else "sleep", 0)))
        finally:
            await _observe(-1, task_type, ctx.task_id, key)
        _record("done", ctx.task_id)
        return {"pid": os.getpid()}

    return run


for _type in ("work", "slow"):
    app.task(_type)(_handler(_type))
app.task("keyed", key="tenant")(_handler("keyed", "tenant"))  # flow key: payload["tenant"]


async def main() -> None:
    worker = app.worker(concurrency=int(os.environ.get("XQ_CONCURRENCY", "10")))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await worker.start()
    (OUT / f"ready.{os.getpid()}").write_text(worker.worker_id)
    await stop.wait()
    await worker.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
