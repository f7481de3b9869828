"""Lease renewal on a thread of its own, so a handler that blocks the event loop
or hogs the CPU cannot starve it (DESIGN §4)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import structlog

from .interfaces import Store
from .models import Heartbeat

log = structlog.get_logger("xqueue.leases")


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
        self._on_heartbeat = on_heartbeat
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._main_loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def add(self, task_id: str) -> None:
        with self._lock:
            self._ids.add(task_id)

    def discard(self, task_id: str) -> None:
        with self._lock:
            self._ids.discard(task_id)

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
                    ids = list(self._ids)
                if ids:
                    try:
                        beat = await store.heartbeat(self.worker_id, ids, self.lease)
                    except Exception as exc:
                        log.warning("lease renewal failed", error=str(exc))
                    else:
                        if beat.cancel_requested or beat.lost:
                            assert self._main_loop is not None
                            try:
                                self._main_loop.call_soon_threadsafe(self._on_heartbeat, beat)
                            except RuntimeError:  # the worker's loop is closed
                                return
                await asyncio.get_running_loop().run_in_executor(
                    None, self._stop.wait, self.interval
                )
        finally:
            await store.close()
