"""Lease renewal on a thread of its own, so a handler that blocks the event loop
or hogs the CPU cannot starve it (DESIGN §4)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from .interfaces import Store
from .logs import get_logger
from .models import Heartbeat

log = get_logger("xqueue.leases")


class LeaseKeeper:
    """Renews the leases of this worker's running tasks every ``interval`` seconds.

    It owns a second store connection on its own thread and event loop. Each
    answer (cancel requests, leases lost) is handed to ``on_heartbeat`` on the
    worker's loop.
    """

    def __init__(
        self,
        make_store: Callable[[], Store],
        worker_id: str,
        lease: float,
        interval: float,
        on_heartbeat: Callable[[Heartbeat], None],
    ) -> None:
        self._make_store = make_store
        self.worker_id = worker_id
        self.lease = lease
        self.interval = interval
        # Give a run up before its lease can have expired in the store: the store
        # set it to (store time at the request) + lease, which is no earlier than
        # our send time + lease, minus what a slow answer or clock rate may cost.
        self.fence_after = lease - max(interval, lease / 4)
        self._on_heartbeat = on_heartbeat
        self._confirmed: dict[str, float] = {}  # task id -> when its lease was last renewed
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._main_loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def add(self, task_id: str) -> None:
        """Renew this task's lease from now on (its claim just set the lease)."""
        with self._lock:
            self._confirmed[task_id] = time.monotonic()

    def discard(self, task_id: str) -> None:
        with self._lock:
            self._confirmed.pop(task_id, None)

    async def start(self) -> None:
        self._main_loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._thread_main, name=f"xqueue-leases:{self.worker_id}", daemon=True
        )
        self._thread.start()
        await asyncio.get_running_loop().run_in_executor(None, self._ready.wait)
        if self._error is not None:
            raise self._error

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    def _thread_main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        store = self._make_store()
        try:
            await store.open()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                with self._lock:
                    ids = list(self._confirmed)
                if ids:
                    await self._renew(store, ids)
                if not self._fence():
                    return
                await asyncio.get_running_loop().run_in_executor(
                    None, self._stop.wait, self.interval
                )
        finally:
            await store.close()

    async def _renew(self, store: Store, ids: list[str]) -> None:
        sent = time.monotonic()
        with self._lock:
            oldest = min(self._confirmed.values(), default=sent)
        # Bounded, so a store that hangs or retries cannot hold up the fencing.
        limit = max(
            0.01, min(max(self.interval, self.fence_after / 3), oldest + self.fence_after - sent)
        )
        try:
            beat = await asyncio.wait_for(store.heartbeat(self.worker_id, ids, self.lease), limit)
        except Exception as exc:
            log.warning("lease renewal failed", error=str(exc) or type(exc).__name__)
            return
        with self._lock:
            for task_id in ids:
                if task_id in self._confirmed and task_id not in beat.lost:
                    self._confirmed[task_id] = sent
        if beat.cancel_requested or beat.lost:
            self._report(beat)

    def _fence(self) -> bool:
        """Give up runs whose lease may have expired unrenewed (the store unreachable):
        the worker stops them before another worker can be handed the task or its
        token. Returns False when the worker's loop is gone."""
        now = time.monotonic()
        with self._lock:
            stale = [i for i, t in self._confirmed.items() if now - t > self.fence_after]
            for task_id in stale:
                del self._confirmed[task_id]
        if not stale:
            return True
        log.warning("leases not renewed in time; stopping runs", tasks=len(stale))
        return self._report(Heartbeat(lost=frozenset(stale)))

    def _report(self, beat: Heartbeat) -> bool:
        assert self._main_loop is not None
        try:
            self._main_loop.call_soon_threadsafe(self._on_heartbeat, beat)
        except RuntimeError:  # the worker's loop is closed
            return False
        return True
