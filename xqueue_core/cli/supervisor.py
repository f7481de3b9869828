"""Runs workers: one in this process, or several child processes supervised here."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

import structlog

from ..app import XQueue

log = structlog.get_logger("xqueue.cli")
PR_SET_PDEATHSIG = 1


async def run_worker(
    app: XQueue,
    concurrency: int | None,
    task_types: Sequence[str] | None,
    ready_message: bool = True,
) -> None:
    """Run one worker until SIGTERM/SIGINT; a second signal skips the grace period."""
    worker = app.worker(concurrency=concurrency, task_types=task_types)
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            log.info(
                "stopping: finishing running tasks",
                signal=signal.Signals(signum).name,
                grace_period=app.settings.grace_period,
            )
            worker.stop()
        else:
            log.warning("second signal: handing back running tasks now")
            worker.stop(hurry=True)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await worker.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def child_argv(app_ref: str | None, args: Sequence[str]) -> list[str]:
    argv = [sys.executable, "-m", "xqueue_core.cli.main", "worker"]
    if app_ref:
        argv.append(app_ref)
    return [*argv, *args, "--processes", "1"]


def _die_with_parent(parent: int) -> None:
    """In a child, before exec: get SIGTERM when the supervisor dies (Linux), so a
    killed supervisor leaves no workers behind; they shut down gracefully instead."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before we asked
            os.kill(os.getpid(), signal.SIGTERM)


def spawn_worker(argv: list[str]) -> subprocess.Popen[bytes]:
    """Start one worker process (own process group; SIGTERM when its parent dies)."""
    parent = os.getpid()
    # A process group of its own: a terminal's Ctrl-C reaches the supervisor only, which
    # forwards it once (a second signal would skip the grace period).
    return subprocess.Popen(argv, process_group=0, preexec_fn=lambda: _die_with_parent(parent))


def supervise(argv: list[str], processes: int) -> int:
    """Start ``processes`` children running ``argv``; restart any that crash;
    forward SIGTERM/SIGINT and wait for all of them to stop."""
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        children.extend(spawn_worker(argv) for _ in range(processes))
        log.info("worker processes started", processes=processes, pids=[c.pid for c in children])
        restarts: dict[int, float] = {}
        while True:
            alive = [c for c in children if c.poll() is None]
            if stopping and not alive:
                break
            if not stopping:
                for i, child in enumerate(children):
                    code = child.poll()
                    if code is None:
                        continue
                    if code == 2:  # a user error: restarting cannot help
                        log.error("worker process failed on a user error; stopping", pid=child.pid)
                        forward(signal.SIGTERM, None)
                        break
                    if time.monotonic() - restarts.get(i, 0.0) < 1.0:
                        continue  # crash loop guard: at most one restart a second per slot
                    log.warning(
                        "worker process exited; starting a new one", pid=child.pid, exit_code=code
                    )
                    restarts[i] = time.monotonic()
                    children[i] = spawn_worker(argv)
            time.sleep(0.1)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    codes = [c.returncode or 0 for c in children]
    return 2 if 2 in codes else int(any(codes))
