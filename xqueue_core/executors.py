"""Where sync handlers run: a thread of their own, or a killable child process.

Sync handlers never run on the event loop. A thread cannot be killed, so a
cancelled or timed-out thread run gets :class:`TaskCancelled` raised inside it
(at its next Python bytecode) and its context reports ``cancelled``; a handler
declared with ``executor="process"`` runs in a child process that is killed
with SIGKILL at its limit, whatever it is doing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .context import TaskContext, mark_cancelled
from .errors import TaskCancelled

if TYPE_CHECKING:
    import multiprocessing.connection

# ctypes and multiprocessing (2 MB of a worker's memory) are imported on first use:
# most workers run only async handlers.

PR_SET_PDEATHSIG = 1
THREAD_STOP_WAIT = 1.0  # seconds a cancelled thread run gets to unwind before we move on


def _inject(thread_id: int, exc: type[BaseException]) -> None:
    import ctypes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc))


async def run_in_thread(fn: Callable[..., Any], args: tuple[Any, ...], ctx: TaskContext) -> Any:
    """Run ``fn(*args)`` on a new daemon thread; cancelling the await stops it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    done = threading.Event()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def body() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:
            done.set()
            if not isinstance(exc, TaskCancelled):
                loop.call_soon_threadsafe(settle, False, exc)
            return
        done.set()
        loop.call_soon_threadsafe(settle, True, result)

    thread = threading.Thread(target=body, name=f"xqueue-task:{ctx.task_id}", daemon=True)
    thread.start()
    try:
        return await future
    except asyncio.CancelledError:
        mark_cancelled(ctx)
        if not done.is_set() and thread.ident is not None:
            _inject(thread.ident, TaskCancelled)
            # Give the handler a moment to unwind (its finally blocks), so the outcome is
            # recorded once it stopped and a shutting-down worker does not exit under it.
            give_up = loop.time() + THREAD_STOP_WAIT
            while not done.is_set() and loop.time() < give_up:
                await asyncio.sleep(0.005)
        raise


# -- process executor ---------------------------------------------------------


def _child_main(
    conn: multiprocessing.connection.Connection, sys_path: list[str], parent: int
) -> None:
    """Loop of a child process: run one job at a time, report progress and the outcome."""
    sys.path[:] = sys_path
    # The worker decides when this process ends (it kills it at a timeout or cancel): a
    # Ctrl-C or SIGTERM sent to the whole process group must not cut a run short during
    # the worker's grace period. If the worker dies, so does this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the worker died before we asked
            return
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        fn, payload, meta, takes_context = job

        def report(value: float) -> None:
            conn.send(("progress", value))

        ctx = TaskContext(
            meta["task_id"],
            meta["type"],
            meta["attempt"],
            meta["worker_id"],
            payload,
            report,
            meta["parents"],
        )
        try:
            result = fn(payload, ctx) if takes_context else fn(payload)
            conn.send(("result", result))
        except BaseException as exc:
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            conn.send(("error", text))


class _Child:
    def __init__(self, ctx: Any) -> None:
        parent, child = ctx.Pipe()
        self.conn: multiprocessing.connection.Connection = parent
        self.process = ctx.Process(
            target=_child_main,
            args=(child, list(sys.path), os.getpid()),
            daemon=True,
            name="xqueue-exec",
        )
        self.process.start()
        child.close()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class ChildProcessError_(Exception):
    """The handler raised in its child process; the text is the child's exception."""


class ProcessExecutor:
    """A small pool of child processes; a run that must stop is killed, and its child replaced."""

    def __init__(self, size: int) -> None:
        import multiprocessing

        self.size = size
        self._mp = multiprocessing.get_context("spawn")
        self._idle: list[_Child] = []
        self._all: set[_Child] = set()
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def run(
        self,
        fn: Callable[..., Any],
        payload: dict[str, Any],
        ctx: TaskContext,
        takes_context: bool,
        on_progress: Callable[[float], None],
    ) -> Any:
        """Run ``fn`` in a child; cancelling this await kills the child."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            child = self._idle.pop() if self._idle else None
            if child is None or not child.process.is_alive():
                child = await loop.run_in_executor(None, _Child, self._mp)
                self._all.add(child)
            meta = {
                "task_id": ctx.task_id,
                "type": ctx.type,
                "attempt": ctx.attempt,
                "worker_id": ctx.worker_id,
                "parents": ctx.parents,
            }
            finished = False
            try:
                child.conn.send((fn, payload, meta, takes_context))
                while True:
                    kind, value = await loop.run_in_executor(None, child.conn.recv)
                    if kind == "progress":
                        on_progress(value)
                        continue
                    finished = True
                    if kind == "result":
                        return value
                    raise ChildProcessError_(value)
            except (EOFError, OSError) as exc:
                raise ChildProcessError_(f"handler process died: {exc!r}") from None
            finally:
                if finished and not self._closed:
                    self._idle.append(child)
                else:
                    mark_cancelled(ctx)
                    self._all.discard(child)
                    await loop.run_in_executor(None, child.kill)

    async def close(self) -> None:
        self._closed = True
        loop = asyncio.get_running_loop()
        for child in list(self._all):
            await loop.run_in_executor(None, child.kill)
        self._all.clear()
        self._idle.clear()
