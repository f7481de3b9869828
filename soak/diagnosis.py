"""Where Redis holds tasks that did not finish: for the soak's ``unfinished.json``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


async def redis_state_of(
    port: int, task_ids: list[str], submitted: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Each task's record, the sorted sets naming it and the stream entries carrying
    it, with the consumer of each group that holds the entry; ``submitted`` gives what
    the soak knew of each at submit. A failure is reported under ``"error"``."""
    import redis.asyncio as aioredis
    from xqueue_redis.keys import Keys
    from xqueue_redis.url import DEFAULT_PREFIX

    keys_of = Keys(DEFAULT_PREFIX)
    client = aioredis.Redis(port=port, decode_responses=True)
    out: dict[str, Any] = {}

    async def held_by(key: str, entry_id: str) -> dict[str, Any]:
        # The store's own streams (events, end notices) have no group: XPENDING on
        # them is an error, so only the groups a stream has are asked.
        held: dict[str, Any] = {}
        for group in await client.xinfo_groups(key):
            name = group["name"]
            held[name] = await client.xpending_range(key, name, entry_id, entry_id, 1)
        return held

    try:
        keys = [k async for k in client.scan_iter(count=1000)]
        kinds = {k: await client.type(k) for k in keys}
        for task_id in task_ids:
            state: dict[str, Any] = {
                "submitted": (submitted or {}).get(task_id),
                "record": await client.hgetall(keys_of.task(task_id)),
                "zsets": {},
                "streams": [],
            }
            for key, kind in kinds.items():
                if kind == "zset":
                    score = await client.zscore(key, task_id)
                    if score is not None:
                        state["zsets"][key] = score
                elif kind == "stream":
                    for entry_id, fields in await client.xrange(key):
                        if task_id in fields.values():
                            held = await held_by(key, entry_id)
                            state["streams"].append([key, entry_id, fields, held])
            out[task_id] = state
    except Exception as exc:  # a diagnosis, not a check
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()
    return out
