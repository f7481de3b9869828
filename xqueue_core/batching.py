"""Group commit: calls that arrive while a batch is being written go into the next batch.

Under low load every item is written at once (batch of one, no added delay);
under high load items share round trips.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Batcher(Generic[In, Out]):
    """Feed items one at a time; ``flush_fn`` receives them in batches, in arrival order."""

    def __init__(
        self, flush_fn: Callable[[Sequence[In]], Awaitable[Sequence[Out]]], max_batch: int = 500
    ) -> None:
        self._flush_fn = flush_fn
        self._max_batch = max_batch
        self._items: list[In] = []
        self._futures: list[asyncio.Future[Out]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: In) -> Out:
        """Queue ``item`` and wait for the result of its batch."""
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._items.append(item)
        self._futures.append(future)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._items:
            items = self._items[: self._max_batch]
            futures = self._futures[: self._max_batch]
            del self._items[: self._max_batch]
            del self._futures[: self._max_batch]
            try:
                results = await self._flush_fn(items)
            except BaseException as exc:
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for future, result in zip(futures, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def drain(self) -> None:
        """Wait until everything queued so far is written."""
        while self._runner is not None and not self._runner.done():
            await asyncio.wait([self._runner])
