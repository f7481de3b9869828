"""A blocking client for scripts and code that does not run asyncio."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .models import Page, Task

if TYPE_CHECKING:
    from .app import XQueue

T = TypeVar("T")


class BlockingClient:
    """Calls the app's async API from plain code, on a private event loop thread.

    ::

        with app.client() as client:
            task = client.submit("email", {"to": "a@example.com"})
            print(client.wait(task.id).status)
    """

    def __init__(self, app: XQueue) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="xqueue-client"
        )
        self._thread.start()
        self._call(app.open())

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def submit(
        self, task_type: str, payload: Mapping[str, Any] | None = None, **options: Any
    ) -> Task:
        return self._call(self.app.submit(task_type, payload, **options))

    def submit_many(self, items: Sequence[Mapping[str, Any]]) -> list[Task]:
        return self._call(self.app.submit_many(items))

    def get(self, task_id: str) -> Task:
        return self._call(self.app.get(task_id))

    def wait(self, task_id: str, timeout: float | None = None) -> Task:
        return self._call(self.app.wait(task_id, timeout))

    def cancel(self, task_id: str) -> Task:
        return self._call(self.app.cancel(task_id))

    def list(self, **filters: Any) -> Page:
        return self._call(self.app.list(**filters))

    def stats(self) -> dict[str, Any]:
        return self._call(self.app.stats())

    def set_concurrency(self, task_type: str, limit: int | None) -> None:
        self._call(self.app.set_concurrency(task_type, limit))

    def get_concurrency(self) -> dict[str, dict[str, int | None]]:
        return self._call(self.app.get_concurrency())

    def close(self) -> None:
        """Close the app's connections and stop the loop thread."""
        if self._loop.is_closed():
            return
        self._call(self.app.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> BlockingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
