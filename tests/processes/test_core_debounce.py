"""Debounce with real worker processes (DESIGN §7.3), on the embedded store and Redis."""

from __future__ import annotations

import asyncio

import pytest

from tests.processes.core_helpers import Env, statuses
from xqueue_core import XQueue
from xqueue_core.testing.services import eventually


@pytest.mark.slow
async def test_a_burst_of_submits_runs_once_per_window_with_the_last_payload(
    xenv: Env, keyed: XQueue
) -> None:
    """Two worker processes; 30 submits of one key, one every 0.1 s, with a window of
    0.5 s capped at 1.5 s: the burst runs as a few tasks, each once, each started no
    later than 1.5 s after its window opened (plus a scheduler pass), each with the
    payload of the last submit merged into it; another key's submits are apart."""
    workers = [xenv.worker("--concurrency", "4") for _ in range(2)]
    for w in workers:
        w.wait_started()
    submitted = []
    for i in range(30):
        submitted.append(
            await keyed.submit(
                "tenanted", {"tenant": "doc", "n": i}, debounce=0.5, debounce_max=1.5
            )
        )
        if i % 10 == 0:
            await keyed.submit("tenanted", {"tenant": "other", "n": i}, debounce=0.5)
        await asyncio.sleep(0.1)
    ids = list(dict.fromkeys(t.id for t in submitted))

    async def all_done() -> bool:
        return set(await statuses(keyed, ids)) == {"success"}

    await eventually(all_done, 30, "the debounced tasks to run")
    done = [await keyed.get(i) for i in ids]
    assert 2 <= len(done) <= 4, len(done)  # 3 s of submits, a window at most 1.5 s long
    for task in done:
        assert task.started_at is not None
        assert task.started_at - task.created_at <= 1.5 + 0.5, task  # the cap, plus a pass
        merged = [t for t in submitted if t.id == task.id]
        assert task.payload["n"] == max(t.payload["n"] for t in merged)  # the last one
    starts = xenv.records("start")
    assert sorted(r["task_id"] for r in starts if r["key"] == "doc") == sorted(ids)  # once each
    assert len({r["task_id"] for r in starts if r["key"] == "other"}) == 3  # 1 s apart: 3 windows
