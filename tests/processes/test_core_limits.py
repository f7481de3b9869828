"""Per-type global concurrency limits across worker processes."""

from __future__ import annotations

import time

import pytest

from tests.processes.core_helpers import Env, running_counts, statuses
from xqueue_core import XQueue
from xqueue_core.testing.services import eventually, wait_until


@pytest.mark.slow
async def test_limit_3_over_2_processes_runs_exactly_3_at_once(xenv: Env, client: XQueue) -> None:
    await client.set_concurrency("limited", 3)
    tasks = await client.submit_many(
        [{"type": "limited", "payload": {"seconds": 0.25}} for _ in range(30)]
    )
    xenv.worker("--processes", "2", "--concurrency", "10").wait_started(count=2)

    async def all_done() -> bool:
        return set(await statuses(client, tasks)) == {"success"}

    await eventually(all_done, 60, "30 limited tasks to finish")
    counts = running_counts(xenv.records(), "limited")
    assert len(counts) == 30
    assert max(n for _, n in counts) == 3
    assert len({r["pid"] for r in xenv.records("start")}) == 2  # both processes took part


@pytest.mark.slow
async def test_lowering_the_limit_applies_to_new_starts_at_once(xenv: Env, client: XQueue) -> None:
    await client.set_concurrency("limited", 4)
    await client.submit_many([{"type": "limited", "payload": {"seconds": 0.4}} for _ in range(30)])
    xenv.worker("--processes", "2", "--concurrency", "10").wait_started(count=2)
    await eventually(lambda: len(xenv.records("start")) >= 6, 30, "six starts")
    await client.set_concurrency("limited", 1)
    changed = time.time()
    await eventually(
        lambda: sum(r["t"] > changed + 1.0 for r in xenv.records("start")) >= 3,
        30,
        "three starts after the change",
    )
    counts = running_counts(xenv.records(), "limited")
    assert max(n for t, n in counts if t < changed) == 4  # the old limit was binding
    late = [n for t, n in counts if t > changed + 1.0]
    assert late and max(late) == 1
    # a claim the store made after the change never saw the old limit
    claimed_after = {
        row[0] for row in xenv.sql("SELECT id FROM tasks WHERE started_at > ?", changed) if row[0]
    }
    starts = xenv.records()
    for task_id in claimed_after:
        index = next(
            i for i, r in enumerate(starts) if r["kind"] == "start" and r["task_id"] == task_id
        )
        assert running_counts(starts[: index + 1], "limited")[-1][1] == 1


@pytest.mark.slow
async def test_a_saturated_type_does_not_delay_another(xenv: Env, client: XQueue) -> None:
    await client.set_concurrency("limited", 1)
    # the saturated type has the higher priority, so its messages come first
    backlog = await client.submit_many(
        [{"type": "limited", "payload": {"seconds": 5}, "priority": 10} for _ in range(10)]
    )
    others = await client.submit_many(
        [{"type": "other", "payload": {"seconds": 0.05}} for _ in range(20)]
    )
    xenv.worker("--concurrency", "4").wait_started()

    async def others_done() -> bool:
        return set(await statuses(client, others)) <= {"success", "failed"}

    await eventually(others_done, 30, "the other type's tasks to finish")
    assert (await statuses(client, backlog)).count("pending") >= 7
    assert set(await statuses(client, others)) == {"success"}
    assert max(n for _, n in running_counts(xenv.records(), "limited")) == 1


async def test_a_saturated_types_backlog_is_not_cycled_through_the_broker(
    xenv: Env, client: XQueue
) -> None:
    await client.set_concurrency("limited", 1)
    await client.submit_many([{"type": "limited", "payload": {"seconds": 30}} for _ in range(40)])
    xenv.worker("--concurrency", "10").wait_started()

    def parked() -> int:
        return int(xenv.sql("SELECT COUNT(*) FROM tasks WHERE parked=1")[0][0])

    wait_until(lambda: parked() == 39, 20, "the backlog to be parked")

    def published() -> int:
        return int(xenv.sql("SELECT seq FROM sqlite_sequence WHERE name='messages'")[0][0])

    before = published()
    # an observation window of several maintenance cycles (0.25 s each): the type stays
    # saturated, so no parked task may be handed to the broker again
    watch_until = time.monotonic() + 1.5
    wait_until(lambda: time.monotonic() > watch_until, 5, "the observation window")
    assert published() == before
    assert parked() == 39
    assert len(xenv.records("start")) == 1
