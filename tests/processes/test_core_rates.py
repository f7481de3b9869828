"""Rate limits across real worker processes (DESIGN §7.3): exact, a kill -9 and a
change under load included, on the embedded store and on Redis."""

from __future__ import annotations

import bisect
import time

import pytest

from tests.processes.core_helpers import Env, statuses
from xqueue_core import XQueue
from xqueue_core.models import TaskStatus
from xqueue_core.testing.services import eventually
from xqueue_core.testing.workers import append_record


async def starts(app: XQueue) -> list[tuple[float, str]]:
    """Every start the store logged (``processing`` events, on the store's clock):
    (when, task id), in order."""
    store = app.backends().store
    out: list[tuple[float, str]] = []
    cursor = "0"
    while True:
        batch = await store.read_events(cursor, 1000, 0.0)
        if not batch:
            return sorted(out)
        cursor = batch[-1][0]
        out += [
            (e.timestamp, e.task_id)
            for _, e in batch
            if e.kind == "status" and e.status == TaskStatus.PROCESSING
        ]


def busiest_window(times: list[float], period: float) -> int:
    """The most starts in any window [t, t + period)."""
    return max((bisect.bisect_left(times, t + period) - i for i, t in enumerate(times)), default=0)


@pytest.mark.slow
async def test_a_rate_holds_across_processes_a_kill_and_a_change(xenv: Env, keyed: XQueue) -> None:
    """50/s over every worker for 10 s (3 processes, one killed with SIGKILL and
    replaced on the way), with a per-key rate of 3/s over 30 keys: at most 50 starts
    in any second and at most 3 of a key, and 500 within 2 % in the 10 s. Then the
    rate goes down to 10/s under load: from a second after, at most 10 in any second."""
    xenv.vars["XQUEUE_LEASE_TTL"] = "2"  # the killed worker's runs come back soon
    await keyed.set_rate("tenanted", "50/s")
    await keyed.set_rate("tenanted", "3/s", per_key=True)
    tasks = await keyed.submit_many(
        [
            {"type": "tenanted", "payload": {"tenant": f"k{i % 30:02d}", "seconds": 0.01}}
            for i in range(900)
        ]
    )
    key_of = {t.id: t.key for t in tasks}
    workers = [xenv.worker("--concurrency", "20") for _ in range(3)]
    for w in workers:
        w.wait_started()
    await eventually(lambda: len(xenv.records("start")) >= 150, 30, "150 starts")
    workers[0].kill_group()
    append_record(xenv.record_file, "killed", victim=workers[0].pid)
    xenv.worker("--concurrency", "20").wait_started()
    first = (await starts(keyed))[0][0]
    await eventually(lambda: time.time() > first + 10.5, 30, "10 s of starts at the rate")
    await keyed.set_rate("tenanted", "10/s")
    changed = await keyed.backends().store.now()
    await eventually(lambda: time.time() > changed + 4.0, 30, "4 s at the lowered rate")

    log = await starts(keyed)
    times = [t for t, _ in log]
    in_ten = [t for t in times if t < first + 10.0]
    assert busiest_window(in_ten, 1.0) <= 50
    assert 490 <= len(in_ten) <= 500, len(in_ten)
    for key in {k for k in key_of.values() if k}:
        assert busiest_window([t for t, i in log if key_of[i] == key], 1.0) <= 3, key
    after = [t for t in times if t > changed + 1.0]
    # starts come in waves of 10 about a second apart: 2 or 3 waves in those 3 s
    assert busiest_window(after, 1.0) <= 10 and len(after) >= 20, len(after)

    await keyed.set_rate("tenanted", None)
    await keyed.set_rate("tenanted", None, per_key=True)

    async def all_done() -> bool:
        return set(await statuses(keyed, tasks)) == {"success"}

    await eventually(all_done, 60, "every task to finish once the rates are gone")
