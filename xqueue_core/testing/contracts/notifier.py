"""NotifierContract: what every notifier must do (DESIGN §5)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ...ids import new_id
from ...interfaces import Notifier
from ...models import (
    TaskEvent,
    TaskStatus,
)
from ..services import eventually
from .common import contract_settings, open_backend


class NotifierContract:
    """What every notifier must do.

    Provide ``notifier_url`` and ``observe``: an async function that returns the
    ``(task_id, status, kind)`` tuples the outside world has received so far.
    """

    settings = contract_settings()
    autoload_plugins = True
    plugins: tuple[object, ...] = ()

    @pytest.fixture
    async def notifier(self, notifier_url: str) -> AsyncIterator[Notifier]:
        notifier: Notifier = await open_backend(
            "notifier", notifier_url, self.settings, self.autoload_plugins, self.plugins
        )
        try:
            yield notifier
        finally:
            await notifier.close()

    def _events(self, task_id: str, statuses: list[TaskStatus]) -> list[TaskEvent]:
        now = time.time()
        return [
            TaskEvent(task_id, "t", s, 0, None, None, "w1", now + i * 0.001)
            for i, s in enumerate(statuses)
        ]

    async def test_events_arrive_in_order_per_task(
        self, notifier: Notifier, observe: Callable[[], Any]
    ) -> None:
        ids = [new_id() for _ in range(3)]
        flow = [TaskStatus.PENDING, TaskStatus.PROCESSING, TaskStatus.SUCCESS]
        for step in range(3):
            await notifier.notify([e for i in ids for e in self._events(i, [flow[step]])])

        async def complete() -> bool:
            seen = await observe()
            return all(
                [s for t, s, k in seen if t == i and k == "status"] == [str(s) for s in flow]
                for i in ids
            )

        await eventually(complete, 10, "every task's three events in order")
