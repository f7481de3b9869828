"""PublishFaultContract: a process whose broker cannot publish strands no task.

Every place that takes a task out of "due" before its publish succeeds (the
worker's scheduler after :meth:`Store.take_due`, a worker handing back a message
of a type it does not run) must give it back when the publish fails, so that a
process whose broker works publishes it — at once, not after ``publish_grace``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from ...app import XQueue
from ...errors import BackendError
from ...interfaces import Broker
from ...models import Message
from ..services import eventually

# Far longer than each test waits: only a hand-back can make the task run in time.
PUBLISH_GRACE = 120.0


class FailingPublish:
    """A broker whose :meth:`publish` fails, as one process's broken producer does;
    everything else goes to the real broker."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.failed: list[str] = []  # task ids whose publish failed, in order

    async def publish(self, messages: Sequence[Message]) -> None:
        self.failed += [m.task_id for m in messages]
        raise BackendError("publish refused on purpose (this process's broker is broken)")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class PublishFaultContract:
    """Provide ``broker_url`` and ``store_url`` fixtures: one broker and one store that
    the apps of a test share (fresh per test)."""

    autoload_plugins = True
    plugins: tuple[object, ...] = ()

    @pytest.fixture
    async def make_app(self, broker_url: str, store_url: str) -> AsyncIterator[Callable[..., Any]]:
        opened: list[XQueue] = []

        async def make(broken: bool = False) -> XQueue:
            app = XQueue(
                broker=broker_url,
                store=store_url,
                autoload_plugins=self.autoload_plugins,
                plugins=self.plugins,
                publish_grace=PUBLISH_GRACE,
                lease_ttl=2.0,
                heartbeat_interval=0.2,
            )

            @app.task("job")
            async def job(payload: dict[str, Any]) -> str:
                return "done"

            @app.task("other")
            async def other(payload: dict[str, Any]) -> str:
                return "other"

            await app.open()
            opened.append(app)
            if broken:
                assert app.broker is not None
                app.broker = FailingPublish(app.broker)
            return app

        try:
            yield make
        finally:
            for app in reversed(opened):
                await app.close()

    async def test_a_due_task_a_broken_publisher_took_runs_elsewhere_at_once(
        self, make_app: Callable[..., Any]
    ) -> None:
        client, broken, healthy = await make_app(), await make_app(True), await make_app()
        failing: FailingPublish = broken.broker
        async with broken.worker(concurrency=2):
            task = await client.submit("job", {}, delay=0.2)  # due later: a worker publishes it
            await eventually(lambda: task.id in failing.failed, 20, "the broken worker to try")
            async with healthy.worker(concurrency=2):
                done = await client.wait(task.id, timeout=20)
        assert str(done.status) == "success"

    async def test_a_message_a_worker_could_not_hand_back_runs_elsewhere(
        self, make_app: Callable[..., Any]
    ) -> None:
        client, broken, healthy = await make_app(), await make_app(True), await make_app()
        failing: FailingPublish = broken.broker
        # The broken worker runs only "other": a "job" message reaching it is handed back.
        async with broken.worker(concurrency=2, task_types=["other"]):
            task = await client.submit("job", {})
            await eventually(lambda: task.id in failing.failed, 20, "the hand-back to fail")
            async with healthy.worker(concurrency=2, task_types=["job"]):
                done = await client.wait(task.id, timeout=20)
        assert str(done.status) == "success"
