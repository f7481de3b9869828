"""``XQueue.wait`` follows the store's event log instead of re-reading the record."""

from __future__ import annotations

import asyncio

import pytest

import xqueue_core.waiting as waiting_module
from xqueue_core import XQueue


async def test_wait_wakes_on_the_tasks_events(
    sqlite_url: str, no_plugin_autoload: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the re-read safety net pushed out to a minute, only the task's events can
    # end the wait within the 20 s below.
    monkeypatch.setattr(waiting_module, "WAIT_PAUSE_MIN", 60.0)
    monkeypatch.setattr(waiting_module, "WAIT_PAUSE_MAX", 60.0)
    app = XQueue(store=sqlite_url, broker=sqlite_url)
    release = asyncio.Event()

    @app.task("gated")
    async def gated(payload: dict[str, object]) -> str:
        await release.wait()
        return "done"

    @app.task("other")
    async def other(payload: dict[str, object]) -> None:
        return None

    changes: list[str] = []
    async with app.worker(concurrency=20):
        task = await app.submit("gated", {})
        waiting = asyncio.create_task(
            app.wait(task.id, timeout=20, on_change=lambda t: changes.append(str(t.status)))
        )
        # other tasks' events go by without ending the wait
        for done in await app.submit_many([{"type": "other"}] * 10):
            await app.wait(done.id, timeout=20)
        assert not waiting.done()
        release.set()
        finished = await waiting
    assert finished.status == "success" and finished.result == "done"
    # the processing event woke the wait too (the handler held it there until released)
    assert changes[-2:] == ["processing", "success"]


async def test_wait_times_out_with_the_status_it_saw(
    sqlite_url: str, no_plugin_autoload: None
) -> None:
    app = XQueue(store=sqlite_url, broker=sqlite_url)

    @app.task("never")
    async def never(payload: dict[str, object]) -> None:
        return None

    async with app:
        task = await app.submit("never", {})  # no worker runs it
        with pytest.raises(TimeoutError, match=r"still pending after 0\.2s"):
            await app.wait(task.id, timeout=0.2)


async def test_wait_without_on_change_reads_the_record_only_at_the_start_and_the_end(
    sqlite_url: str, no_plugin_autoload: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(waiting_module, "WAIT_PAUSE_MIN", 60.0)
    monkeypatch.setattr(waiting_module, "WAIT_PAUSE_MAX", 60.0)
    app = XQueue(store=sqlite_url, broker=sqlite_url)
    started, release = asyncio.Event(), asyncio.Event()

    @app.task("gated")
    async def gated(payload: dict[str, object]) -> str:
        started.set()
        await release.wait()
        return "done"

    async with app.worker():
        task = await app.submit("gated", {})
        store = app.store
        assert store is not None
        reads: list[str] = []
        real_get = store.get

        async def counting_get(task_id: str) -> object:
            reads.append(task_id)
            return await real_get(task_id)

        monkeypatch.setattr(store, "get", counting_get)
        waiting = asyncio.create_task(app.wait(task.id, timeout=20))
        try:
            await started.wait()
            await asyncio.sleep(0.2)  # the processing event is in the log by now
            assert reads == [task.id]
        finally:
            release.set()
        finished = await waiting
    assert finished.status == "success" and finished.result == "done"
    assert reads == [task.id, task.id]
