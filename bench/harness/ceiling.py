"""The framework-free ceiling: one Python process keeping a full task record in Redis.

No framework, no broker, no asyncio: tasks are created 100 per script call,
then a single loop claims 100 with a lease in one script call, "runs" them
(a no-op), and finishes them with stats and an event in another. Each task
keeps what xqueue keeps: a hash with every field of the task record, status
indexes, a lease entry, per-status counters and one event per transition in a
capped stream. Whatever xqueue does on top of this costs throughput; its drain
rate divided by this loop's is printed as "xqueue's share of the ceiling".
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

BATCH = 100
LEASE = 15.0
WORKER = "ceiling:1"

# Every script reads the clock from Redis (one clock for every host, as xqueue does).
_COMMON = """
local P = KEYS[1]
local t = redis.call('TIME')
local NOW = tonumber(t[1]) + tonumber(t[2]) / 1e6
local function event(id, typ, status)
  redis.call('XADD', P .. 'events', 'MAXLEN', '~', 100000, '*', 'task_id', id, 'type', typ,
    'status', status, 'retry', 0, 'worker_id', ARGV[1], 'timestamp', NOW)
end
"""

CREATE = (
    _COMMON
    + """
for i = 2, #ARGV, 2 do
  local id, typ = ARGV[i], ARGV[i + 1]
  redis.call('HSET', P .. 't:' .. id, 'id', id, 'type', typ, 'payload', '{}', 'priority', 0,
    'status', 'pending', 'retry', 0, 'max_retry', 0, 'queue_timeout', 0, 'process_timeout', 0,
    'created_at', NOW, 'updated_at', NOW, 'redeliveries', 0)
  redis.call('ZADD', P .. 'all', 0, id)
  redis.call('ZADD', P .. 's:pending', 0, id)
  redis.call('ZADD', P .. 'ready', 0, id)
  event(id, typ, 'pending')
end
local created = math.floor((#ARGV - 1) / 2)
redis.call('HINCRBY', P .. 'stats', 'pending', created)
return created
"""
)

CLAIM = (
    _COMMON
    + """
local n = tonumber(ARGV[2])
local popped = redis.call('ZPOPMIN', P .. 'ready', n)
local out = {}
local until_ = NOW + tonumber(ARGV[3])
for i = 1, #popped, 2 do
  local id = popped[i]
  local k = P .. 't:' .. id
  local h = redis.call('HMGET', k, 'status', 'type', 'payload')
  if h[1] == 'pending' then
    redis.call('HSET', k, 'status', 'processing', 'worker_id', ARGV[1], 'started_at', NOW,
      'updated_at', NOW, 'lease_until', until_)
    redis.call('ZREM', P .. 's:pending', id)
    redis.call('ZADD', P .. 's:processing', 0, id)
    redis.call('ZADD', P .. 'lease', until_, id)
    event(id, h[2], 'processing')
    out[#out + 1] = id
    out[#out + 1] = h[3]
  end
end
local claimed = math.floor(#out / 2)
if claimed > 0 then
  redis.call('HINCRBY', P .. 'stats', 'pending', -claimed)
  redis.call('HINCRBY', P .. 'stats', 'processing', claimed)
end
return out
"""
)

FINISH = (
    _COMMON
    + """
local done = 0
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local k = P .. 't:' .. id
  local h = redis.call('HMGET', k, 'status', 'worker_id', 'type')
  if h[1] == 'processing' and h[2] == ARGV[1] then
    redis.call('HSET', k, 'status', 'success', 'completed_at', NOW, 'updated_at', NOW,
      'result', ARGV[i + 1])
    redis.call('HDEL', k, 'lease_until')
    redis.call('ZREM', P .. 'lease', id)
    redis.call('ZREM', P .. 's:processing', id)
    redis.call('ZADD', P .. 's:success', 0, id)
    event(id, h[3], 'success')
    done = done + 1
  end
end
redis.call('HINCRBY', P .. 'stats', 'processing', -done)
redis.call('HINCRBY', P .. 'stats', 'success', done)
return done
"""
)


def run_ceiling(redis_url: str, n: int) -> dict[str, Any]:
    """Create ``n`` tasks, then drain them with the claim/finish loop; rates per second."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    prefix = "{ceiling}:"
    create = client.register_script(CREATE)
    claim = client.register_script(CLAIM)
    finish = client.register_script(FINISH)

    t0 = time.perf_counter()
    for start in range(0, n, BATCH):
        args: list[Any] = [WORKER]
        for _ in range(min(BATCH, n - start)):
            args += [uuid.uuid4().hex, "noop"]
        create(keys=[prefix], args=args)
    enqueue_s = time.perf_counter() - t0

    redis_pid = int(client.info("server")["process_id"])
    redis_cpu0, cpu0 = _cpu(redis_pid), time.process_time()
    commands0 = sum(v["calls"] for v in client.info("commandstats").values())
    t0 = time.perf_counter()
    finished = 0
    while True:
        flat = claim(keys=[prefix], args=[WORKER, BATCH, LEASE])
        if not flat:
            break
        results: list[Any] = [WORKER]
        for i in range(0, len(flat), 2):
            json.loads(flat[i + 1])  # the no-op handler gets its payload ...
            results += [flat[i], json.dumps(None)]  # ... and returns None
        finished += finish(keys=[prefix], args=results)
    drain_s = time.perf_counter() - t0
    costs = {
        "worker_cpu_us": (time.process_time() - cpu0) / n * 1e6,
        "redis_cpu_us": (_cpu(redis_pid) - redis_cpu0) / n * 1e6,
        "redis_commands": (
            sum(v["calls"] for v in client.info("commandstats").values()) - commands0
        )
        / n,
    }
    stats = {k.decode(): int(v) for k, v in client.hgetall(prefix + "stats").items()}
    client.flushall()
    if finished != n or stats.get("success") != n:
        raise RuntimeError(f"ceiling loop finished {finished} of {n} tasks ({stats})")
    return {
        "enqueue_rate": n / enqueue_s,
        "rate": n / drain_s,
        "done": finished,
        "total": n,
        "seconds": drain_s,
        "complete": True,
        "costs": costs,
    }


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    import sys

    print(run_ceiling(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20000))
