"""Which workers are alive (DESIGN §7.4): each worker reports itself to the store —
host, pid, task types, concurrency, the ids of the tasks it runs, its version — a
third of a lease apart, and is forgotten when it stops. One that dies without a word
(kill -9, a lost host) is gone once its last report is a lease old. The store stamps
every time with its own clock, so workers with skewed clocks agree."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from .models import WorkerInfo

if TYPE_CHECKING:
    from .interfaces import Backends, Store

REPORTS_PER_LEASE = 3  # a worker that misses two reports in a row is still listed


def describe(
    worker_id: str, types: list[str], concurrency: int, running: tuple[str, ...]
) -> WorkerInfo:
    """This process as a worker record (the store sets its times)."""
    from . import __version__

    return WorkerInfo(
        id=worker_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        types=tuple(types),
        concurrency=concurrency,
        running=running,
        version=__version__,
    )


async def report(
    store: Store, info: Callable[[], WorkerInfo], lease: float, stopping: asyncio.Event
) -> None:
    """Report ``info()`` every ``lease / REPORTS_PER_LEASE`` seconds until ``stopping``
    is set (the worker's presence loop; the worker forgets itself when it stops)."""
    while not stopping.is_set():
        await store.report_worker(info(), lease)
        try:
            await asyncio.wait_for(stopping.wait(), lease / REPORTS_PER_LEASE)
        except TimeoutError:
            pass


class PresenceControl:
    """Mixed into :class:`~xqueue_core.XQueue`."""

    def backends(self) -> Backends:
        raise NotImplementedError

    async def workers(self) -> list[WorkerInfo]:
        """Every live worker (its last report not older than a lease), by id."""
        return await self.backends().store.workers()
