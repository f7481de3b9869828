"""Per-key limits and fairness across real worker processes (DESIGN §7.3), kill -9 included."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from tests.processes.core_helpers import Env, statuses
from xqueue_core import XQueue
from xqueue_core.testing.services import eventually
from xqueue_core.testing.workers import append_record


def peaks(records: list[dict[str, Any]]) -> tuple[int, dict[str, int]]:
    """The most runs at once in all and per key, from the start/end records in file
    order; a ``killed`` record ends every run of the killed process at that point."""
    running: dict[tuple[int, str], str] = {}  # (pid, task id) -> key
    top, per_key = 0, {}
    for r in records:
        if r.get("type") != "tenanted" and r["kind"] != "killed":
            continue
        if r["kind"] == "start":
            running[(r["pid"], r["task_id"])] = r["key"]
            top = max(top, len(running))
            now = sum(1 for k in running.values() if k == r["key"])
            per_key[r["key"]] = max(per_key.get(r["key"], 0), now)
        elif r["kind"] == "end":
            running.pop((r["pid"], r["task_id"]), None)
        elif r["kind"] == "killed":
            running = {run: k for run, k in running.items() if run[0] != r["victim"]}
    return top, per_key


@pytest.mark.slow
async def test_key_and_type_limits_hold_across_processes_and_a_kill(
    xenv: Env, keyed: XQueue
) -> None:
    """4 worker processes, 200 keys, per-key limit 2 under a type limit of 10, runs
    longer than the lease; one worker is killed with SIGKILL mid-run: never more than
    2 of a key or 10 in all, both reached, and every slot of the dead worker comes back
    (every task finishes)."""
    await keyed.set_concurrency("tenanted", 10)
    await keyed.set_concurrency("tenanted", 2, per_key=True)
    xenv.vars["XQUEUE_LEASE_TTL"] = "1"  # the workers' leases: 1 s
    seconds = 1.3  # longer than the lease: the heartbeats keep the slots
    payloads = [{"tenant": f"t{i:03d}"} for i in range(200)]
    payloads += [{"tenant": hot} for hot in ("hot-a", "hot-b") for _ in range(8)]
    tasks = await keyed.submit_many(
        [{"type": "tenanted", "payload": {**p, "seconds": seconds}} for p in payloads]
    )
    workers = [xenv.worker("--concurrency", "6") for _ in range(4)]
    for w in workers:
        w.wait_started()
    victim = workers[0]

    def victim_busy() -> bool:
        runs = [r for r in xenv.records() if r.get("pid") == victim.pid]
        started = {r["task_id"] for r in runs if r["kind"] == "start"}
        return len(xenv.records("start")) >= 30 and bool(
            started - {r["task_id"] for r in runs if r["kind"] == "end"}
        )

    await eventually(victim_busy, 60, "30 starts, with a run of the victim in flight")
    victim.kill_group()
    append_record(xenv.record_file, "killed", victim=victim.pid)

    async def all_done() -> bool:
        return set(await statuses(keyed, tasks)) == {"success"}

    await eventually(all_done, 120, "every tenanted task to finish")
    top, per_key = peaks(xenv.records())
    assert top == 10, top  # the type's limit, reached and never passed
    assert max(per_key.values()) == 2 and per_key["hot-a"] == 2  # the key's limit too
    assert len(per_key) == 202
    killed = {r["task_id"] for r in xenv.records("start") if r["pid"] == victim.pid}
    ended = {r["task_id"] for r in xenv.records("end") if r["pid"] == victim.pid}
    assert killed - ended, "the kill caught no run in flight"
    usage = await keyed.key_usage("tenanted", 5)
    assert all(u.running == 0 and u.waiting == 0 for u in usage)  # nothing leaked


@pytest.mark.slow
async def test_a_small_key_is_not_starved_by_a_big_backlog(xenv: Env, keyed: XQueue) -> None:
    """One key with a large backlog, then 20 keys with 5 tasks each: every small
    key finishes before a tenth of the big key's backlog is done."""
    await keyed.set_concurrency("tenanted", 4)
    big = await keyed.submit_many(
        [{"type": "tenanted", "payload": {"tenant": "big", "seconds": 0.05}} for _ in range(5000)]
    )
    worker = xenv.worker("--concurrency", "8")
    worker.wait_started()
    await eventually(lambda: len(xenv.records("start")) >= 8, 30, "the big key to start")
    small = await keyed.submit_many(
        [
            {"type": "tenanted", "payload": {"tenant": f"s{k:02d}", "seconds": 0.05}}
            for k in range(20)
            for _ in range(5)
        ]
    )

    async def small_done() -> bool:
        return set(await statuses(keyed, small)) == {"success"}

    await eventually(small_done, 120, "the small keys' tasks to finish")
    done_big = sum(s == "success" for s in await statuses(keyed, big))
    assert done_big < len(big) // 10, done_big
    worker.signal(signal.SIGTERM)
    worker.wait()


def key_counts(records: list[dict[str, Any]]) -> list[tuple[float, str, int]]:
    """For each start of a tenanted task: its time, its key and the runs of that key
    at that moment, itself included."""
    running: dict[str, int] = {}
    key_of: dict[str, str] = {}  # end records name the task, not its key
    out = []
    for r in records:
        if r.get("type") != "tenanted":
            continue
        if r["kind"] == "start":
            key = key_of[r["task_id"]] = r["key"]
            running[key] = running.get(key, 0) + 1
            out.append((r["t"], key, running[key]))
        elif r["kind"] == "end":
            running[key_of[r["task_id"]]] -= 1
    return out


@pytest.mark.slow
async def test_changing_a_key_limit_under_load_applies_to_new_starts(
    xenv: Env, keyed: XQueue
) -> None:
    await keyed.set_concurrency("tenanted", 3, per_key=True)
    payloads = [{"tenant": k, "seconds": 0.3} for k in ("a", "b") for _ in range(40)]
    await keyed.submit_many([{"type": "tenanted", "payload": p} for p in payloads])
    xenv.worker("--concurrency", "10").wait_started()
    await eventually(lambda: len(xenv.records("start")) >= 12, 30, "twelve starts")
    await keyed.set_concurrency("tenanted", 1, key="a")  # a's own limit beats the default
    changed = time.time()
    await eventually(
        lambda: sum(r["t"] > changed + 1.0 for r in xenv.records("start")) >= 12,
        60,
        "twelve starts after the change",
    )
    counts = key_counts(xenv.records())
    assert max(n for t, k, n in counts if t < changed) == 3  # the old limit was binding
    late = [(k, n) for t, k, n in counts if t > changed + 1.0]
    assert max(n for k, n in late if k == "a") == 1
    assert max(n for k, n in late if k == "b") == 3  # b keeps the default
    await keyed.set_concurrency("tenanted", None, key="a")  # back to the default of 3
    raised = time.time()
    await eventually(
        lambda: any(t > raised and k == "a" and n == 3 for t, k, n in key_counts(xenv.records())),
        60,
        "key a to run 3 at once again",
    )
