"""Periodic schedules through the Python API, ticked by two workers in this process
(sqlite): each tick fires once; runtime management; bad input changes nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from xqueue_core import ScheduleNotFound, ValidationError, XQueue
from xqueue_core.testing.services import eventually


def make(url: str) -> XQueue:
    app = XQueue("sched", broker=url, store=url)

    @app.task("report")
    async def report(payload: dict[str, object]) -> dict[str, object]:
        return payload

    app.schedule("every-second", "report", every=1, payload={"kind": "tick"}, catch_up="all")
    return app


async def test_two_workers_fire_each_tick_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    apps = [make(url), make(url)]
    workers = [a.worker(concurrency=4) for a in apps]
    for w in workers:
        await w.start()
    try:
        client = apps[0]
        await asyncio.sleep(4.2)
        await workers[0].shutdown()
        await workers[1].shutdown()
        async with client:
            page = await client.list(type="report", limit=100)
            tasks = [t for t in page.tasks if t.schedule == "every-second"]
            state = await client.get_schedule("every-second")
    finally:
        for w in workers:
            if not w.stopped.is_set():
                await w.shutdown()
    ticks = Counter(t.scheduled_for for t in tasks)
    assert len(ticks) >= 3 and set(ticks.values()) == {1}, ticks  # every tick once
    fired = sorted(ticks)
    assert fired == [fired[0] + i for i in range(len(fired))]  # and none missing
    assert all(t.payload == {"kind": "tick"} for t in tasks)
    assert state.last_run == fired[-1] and state.schedule.source == "code"


async def test_schedules_are_managed_at_runtime_and_bad_input_changes_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    app = make(url)
    async with app:
        state = await app.add_schedule("nightly", "report", cron="0 3 * * *", tz="Europe/Berlin")
        assert state.schedule.source == "runtime" and state.next_at > 0
        with pytest.raises(ValidationError, match="a schedule named 'nightly' exists already"):
            await app.add_schedule("nightly", "report", every=5)
        for fields, message in [
            ({"cron": "61 * * * *"}, "does not parse"),
            ({"cron": "0 3 * * *", "tz": "Mars/Olympus"}, "unknown time zone"),
            ({"every": 0}, "every must be at least 0.5 s"),
        ]:
            with pytest.raises(ValidationError, match=message):
                await app.add_schedule("other", "report", **fields)
        with pytest.raises(ValidationError, match="no worker has registered task type 'nope'"):
            await app.add_schedule("other", "nope", every=5)
        assert [s.schedule.name for s in await app.list_schedules()] == ["nightly"]
        paused = await app.pause_schedule("nightly")
        assert not paused.schedule.enabled and paused.to_dict()["next_run"] is None
        assert (await app.resume_schedule("nightly")).schedule.enabled
        task = await app.run_schedule("nightly")
        assert task.schedule == "nightly" and task.scheduled_for is not None
        await app.delete_schedule("nightly")
        with pytest.raises(ScheduleNotFound, match="no schedule named 'nightly'"):
            await app.get_schedule("nightly")
        assert (await app.get(task.id)) is not None  # its tasks stay


async def test_a_paused_schedule_stops_ticking(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    app = make(url)
    worker = app.worker(concurrency=2)
    await worker.start()
    try:

        async def fired() -> int:
            page = await app.list(type="report", limit=100)
            return sum(t.schedule == "every-second" for t in page.tasks)

        async def first_tick() -> bool:
            return await fired() > 0

        await eventually(first_tick, 5, "a first tick")
        await app.pause_schedule("every-second")  # a fire racing it fails its check of enabled
        before = await fired()
        await asyncio.sleep(2.2)
        assert await fired() == before
        await app.resume_schedule("every-second")

        async def ticks_again() -> bool:
            return await fired() > before

        await eventually(ticks_again, 5, "ticks again after the resume")
    finally:
        await worker.shutdown()


async def test_a_runtime_edit_takes_effect_from_the_next_tick(tmp_path: Path) -> None:
    """A worker ticks ``every 2``; changed to ``every 1`` while it runs, the ticks before
    the change are 2 s apart and from the next whole second after it they are 1 s apart."""
    url = f"sqlite:///{tmp_path / 'q.db'}"
    app = make(url)
    worker = app.worker(concurrency=2)
    await worker.start()
    try:
        await app.add_schedule("edited", "report", every=2, catch_up="all")

        async def ticks() -> list[float]:
            page = await app.list(type="report", limit=200)
            return sorted(t.scheduled_for for t in page.tasks if t.schedule == "edited")  # type: ignore[misc]

        async def two_ticks() -> bool:
            return len(await ticks()) >= 2

        await eventually(two_ticks, 10, "two ticks of every 2")
        changed_at = await app.store.now()  # type: ignore[union-attr]
        state = await app.update_schedule("edited", every=1)
        assert state.schedule.every == 1 and state.next_at <= changed_at + 1.01

        async def three_more() -> bool:
            return len([t for t in await ticks() if t > changed_at]) >= 3

        await eventually(three_more, 10, "three ticks of every 1")
        await app.pause_schedule("edited")
    finally:
        await worker.shutdown()
    fired = await ticks_of(url, "edited")
    before = [t for t in fired if t <= changed_at]
    after = [t for t in fired if t > changed_at]
    assert len(before) >= 2 and all(t % 2 == 0 for t in before), before
    assert before == [before[0] + 2 * i for i in range(len(before))], before
    assert after[0] <= changed_at + 1.01, (changed_at, after)  # the very next tick
    assert after == [after[0] + i for i in range(len(after))], after  # every second, none missed


async def ticks_of(url: str, name: str) -> list[float]:
    async with make(url) as client:
        page = await client.list(type="report", limit=200)
    return sorted(t.scheduled_for for t in page.tasks if t.schedule == name)  # type: ignore[misc]
