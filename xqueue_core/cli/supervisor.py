"""Runs workers: one in this process, or several child processes supervised here.

The supervisor of several worker processes only starts, restarts and signals them:
``xqueue worker --processes N`` checks the app and its backends, then replaces
itself (same pid) with ``python -m xqueue_core.cli.supervisor``, which imports
neither the app nor asyncio, structlog or any plugin. That keeps it at a third of
a worker's memory.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from ..logs import LineLogger

TYPE_CHECKING = False  # not typing's: this module must stay light (see above)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn, Protocol

    from ..app import XQueue

    class ProcessLog(Protocol):
        """What :class:`Supervisor` logs through: a :class:`~xqueue_core.logs.LineLogger`
        (the default) or a logger of :func:`~xqueue_core.logs.get_logger`."""

        def info(self, event: str, **fields: Any) -> object: ...
        def warning(self, event: str, **fields: Any) -> object: ...
        def error(self, event: str, **fields: Any) -> object: ...


PR_SET_PDEATHSIG = 1
USAGE = "usage: python -m xqueue_core.cli.supervisor PROCESSES -- WORKER_ARGV..."


async def run_worker(
    app: XQueue,
    concurrency: int | None,
    task_types: Sequence[str] | None,
    ready_message: bool = True,
) -> None:
    """Run one worker until SIGTERM/SIGINT; a second signal skips the grace period."""
    import asyncio

    import structlog

    log = structlog.get_logger("xqueue.cli")
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
    """The command of one worker process: ``args`` are options of ``xqueue worker``."""
    argv = [sys.executable, "-m", "xqueue_core.cli.worker_process"]
    if app_ref:
        argv.append(app_ref)
    return [*argv, *args]


def _die_with_parent(parent: int, libc: Any) -> None:
    """In a child, before exec: get SIGTERM when the supervisor dies (Linux), so a
    killed supervisor leaves no workers behind; they shut down gracefully instead."""
    if libc is not None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before we asked
            os.kill(os.getpid(), signal.SIGTERM)


class Child:
    """A started worker process (what the supervisor needs of ``subprocess.Popen``,
    which with its selectors and threading would add ~1.6 MB here)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """Its exit code once it ended (``-N``: killed by signal N), else None."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)


def spawn_worker(argv: list[str]) -> Child:
    """Start one worker process (own process group; SIGTERM when its parent dies)."""
    parent = os.getpid()
    libc = None
    if sys.platform.startswith("linux"):
        # loaded here, not after the fork; and not at import: a worker process imports
        # this module (for run_worker) and has no use for ctypes
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid:
        return Child(pid)
    try:  # the child, until exec: only set-up, never back into the supervisor's loop
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)  # not the supervisor's forwarding
        # A process group of its own: a terminal's Ctrl-C reaches the supervisor only,
        # which forwards it once (a second signal would skip the grace period).
        os.setpgid(0, 0)
        _die_with_parent(parent, libc)
        os.execvp(argv[0], argv)
    except BaseException as exc:
        # os.write, not print: another thread of the parent may have held stderr's lock
        os.write(2, f"xqueue: cannot start a worker process: {exc}\n".encode())
    finally:
        os._exit(127)


class Supervisor:
    """``processes`` children running ``argv``, kept alive: the restart policy of
    ``xqueue worker --processes N`` and of ``xqueue serve``.

    - A child that exits is started again (by :func:`spawn_worker`), but each slot
      at most once a second, so a child that crashes at start is not a tight loop.
    - A child that exits with a user error (code 2: a bad URL, an unknown type)
      stops them all, since starting it again cannot help: :attr:`failed` is set,
      ``on_fatal`` is called and the others get SIGTERM (once).
    - :meth:`stop` forwards a signal to every live child (a second SIGTERM/SIGINT
      makes them skip their grace period); from then on no child is restarted.

    Drive it with :meth:`run` (blocking) or :meth:`run_async` (on an event loop);
    both return the exit code. Signal handlers are the caller's: they call
    :meth:`stop`.
    """

    POLL_INTERVAL = 0.1  # seconds between checks of the children
    RESTART_INTERVAL = 1.0  # at most one restart a second per slot

    def __init__(
        self,
        argv: list[str],
        processes: int,
        log: ProcessLog | None = None,
        on_fatal: Callable[[], None] | None = None,
    ) -> None:
        self.argv = argv
        self.processes = processes
        self.log: ProcessLog = log if log is not None else LineLogger()
        self.on_fatal = on_fatal
        self.children: list[Child] = []
        self.stopping = False
        self.failed = False
        self._signum: int = signal.SIGTERM
        self._restarted: dict[int, float] = {}

    def start(self) -> None:
        """Start the children."""
        for _ in range(self.processes):
            self.children.append(self._spawn())
        pids = [c.pid for c in self.children]
        self.log.info("worker processes started", processes=self.processes, pids=pids)

    def check(self) -> bool:
        """Apply the policy once: restart children that exited (see the class); true
        once :meth:`stop` was called and every child has ended."""
        if self.stopping:
            return all(c.poll() is not None for c in self.children)
        for i, child in enumerate(self.children):
            code = child.poll()
            if code is None:
                continue
            if code == 2:
                self.log.error("worker process failed on a user error; stopping", pid=child.pid)
                self.failed = True
                if self.on_fatal is not None:
                    self.on_fatal()  # it may stop us itself: the others get one SIGTERM
                if not self.stopping:
                    self.stop(signal.SIGTERM)
                return False
            if time.monotonic() - self._restarted.get(i, 0.0) < self.RESTART_INTERVAL:
                continue
            self.log.warning(
                "worker process exited; starting a new one", pid=child.pid, exit_code=code
            )
            self._restarted[i] = time.monotonic()
            self.children[i] = self._spawn()
        return False

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Send ``signum`` to every live child and restart none from now on (safe to
        call from a signal handler)."""
        self.stopping = True
        self._signum = signum
        for child in self.children:
            _signal(child, signum)

    def exit_code(self) -> int:
        """2 after a user error, else 1 if any child ended badly, else 0."""
        codes = [c.returncode or 0 for c in self.children]
        return 2 if self.failed or 2 in codes else int(any(codes))

    def run(self) -> int:
        """Start the children and keep them alive until all stopped; the exit code."""
        self.start()
        while not self.check():
            time.sleep(self.POLL_INTERVAL)
        return self.exit_code()

    async def run_async(self) -> int:
        """:meth:`run` on an event loop."""
        import asyncio

        self.start()
        while not self.check():
            await asyncio.sleep(self.POLL_INTERVAL)
        return self.exit_code()

    def _spawn(self) -> Child:
        child = spawn_worker(self.argv)
        if self.stopping:  # a signal came while it started: it must not miss it
            _signal(child, self._signum)
        return child


def _signal(child: Child, signum: int) -> None:
    try:
        child.send_signal(signum)
    except ProcessLookupError:  # it ended just now
        pass


def supervise(argv: list[str], processes: int) -> int:
    """Start ``processes`` children running ``argv``; restart any that crash;
    forward SIGTERM/SIGINT and wait for all of them to stop."""
    supervisor = Supervisor(argv, processes)

    def forward(signum: int, _frame: object) -> None:
        supervisor.stop(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return supervisor.run()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def exec_supervisor(argv: list[str], processes: int) -> NoReturn:
    """Become the supervisor of ``processes`` children running ``argv``: a fresh
    interpreter in this process (same pid, so signals sent to it still arrive) that
    has nothing of the app loaded."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(
        sys.executable,
        [sys.executable, "-m", "xqueue_core.cli.supervisor", str(processes), "--", *argv],
    )


def main(args: Sequence[str]) -> int:
    """``python -m xqueue_core.cli.supervisor PROCESSES -- WORKER_ARGV...``."""
    if len(args) < 3 or args[1] != "--" or not args[0].isdigit() or int(args[0]) < 1:
        print(USAGE, file=sys.stderr)
        return 2
    return supervise(list(args[2:]), int(args[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
