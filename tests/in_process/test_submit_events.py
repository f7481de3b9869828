"""A submit announces its tasks before their messages exist, and takes them back on failure."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from xqueue_core import BackendError, TaskEvent, XQueue, hookimpl
from xqueue_core.models import Message


class Recorder:
    def __init__(self) -> None:
        self.log: list[str] = []

    @hookimpl
    def xqueue_task_event(self, event: TaskEvent) -> None:
        self.log.append(f"event {event.kind} {event.status}")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def app(sqlite_url: str, no_plugin_autoload: None, recorder: Recorder) -> XQueue:
    """An app with one task type and the recorder as a plugin."""
    app = XQueue(store=sqlite_url, broker=sqlite_url, plugins=[recorder])

    @app.task("t")
    async def handler(payload: dict[str, object]) -> None:
        return None

    return app


async def test_pending_event_comes_before_the_publish(
    app: XQueue, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with app:
        broker, _ = app.backends()
        publish = broker.publish

        async def logged(messages: Sequence[Message]) -> None:
            recorder.log.append("publish")
            await publish(messages)

        monkeypatch.setattr(broker, "publish", logged)
        await app.submit("t", {})
    assert recorder.log == ["event status pending", "publish"]


async def test_a_failed_publish_takes_the_tasks_back(
    app: XQueue, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with app:
        broker, _ = app.backends()

        async def broken(messages: Sequence[Message]) -> None:
            raise BackendError("broker down")

        monkeypatch.setattr(broker, "publish", broken)
        notified: list[str] = []

        class Collector:  # stands in for a notifier plugin (MQTT clears retained states)
            async def notify(self, events: Sequence[TaskEvent]) -> None:
                notified.extend(f"{e.kind} {e.status}" for e in events)

        monkeypatch.setattr(app.events, "_notifiers", [Collector()])
        with pytest.raises(BackendError, match="broker down"):
            await app.submit_many([{"type": "t"}, {"type": "t"}])
        page = await app.list()
    assert page.tasks == []  # nothing half-written
    assert recorder.log == ["event status pending"] * 2  # hooks never see purges
    assert notified == ["status pending"] * 2 + ["purged pending"] * 2


async def test_a_schedule_run_now_is_announced_like_a_submit(
    app: XQueue, recorder: Recorder
) -> None:
    async with app:
        await app.add_schedule("nightly", "t", cron="0 3 * * *")
        task = await app.run_schedule("nightly")
    assert task.schedule == "nightly"
    assert recorder.log == ["event status pending"]
