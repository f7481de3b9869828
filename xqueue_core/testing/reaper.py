"""Kill the process groups a test run started when the run ends, however it ends.

Services and workers for tests and benchmarks run in sessions of their own (so a test
can SIGKILL a whole group), which also means nothing stops them when the process that
started them is SIGKILLed (pytest-timeout, ``subprocess.run(timeout=...)``): they are
re-parented to init and run on. So :func:`watch` hands each group to a watchdog: a tiny
process, in a session of its own, reading a pipe whose write end only the registering
process holds. When that process ends (normal exit, exception, SIGKILL) the kernel
closes the pipe; the watchdog reads EOF and SIGKILLs every group still registered.
:func:`forget` a group once it is stopped, so a later EOF cannot hit a reused id.

The watchdog also remembers each leader's start time (``/proc/PID/stat``) and skips a
group whose id now belongs to a different process (pids are reused, and test runs
start many processes).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:  # imported where used: the watchdog, this file run alone, has no use for it
    import subprocess

_lock = threading.Lock()
_owner = 0  # the pid whose watchdog _proc is; another pid (a fork) starts its own
_proc: subprocess.Popen[bytes] | None = None
_fd = -1  # the write end of the watchdog's stdin, non-inheritable
_watched: set[int] = set()  # to hand to a new watchdog if the old one died


def watch(pid: int) -> None:
    """SIGKILL ``pid``'s process group when this process ends, unless :func:`forget`
    is called first. ``pid`` is the pid of a child started with
    ``start_new_session=True`` (its pgid); for a child in this process's group, the
    child alone is killed. Call it before the child can have been waited for.
    An exec of this process counts as its end (the pipe is close-on-exec)."""
    with _lock:
        if _owner not in (0, os.getpid()):
            _drop_inherited()  # forked without the at-fork hook (not through os.fork)
        _watched.add(pid)
        _send(f"+{pid}\n")


def forget(pid: int) -> None:
    """Stop watching ``pid`` (call it once it has been stopped and waited for).
    Unknown pids are ignored."""
    with _lock:
        if _owner != os.getpid() or pid not in _watched:
            return
        _watched.discard(pid)
        _send(f"-{pid}\n")


def _send(line: str) -> None:
    """Write ``line`` to the watchdog, starting one (again) if needed. Under _lock."""
    if _fd >= 0:
        try:
            os.write(_fd, line.encode())
            return
        except OSError:  # the watchdog died (someone killed it): start another
            pass
    _start()


def _start() -> None:
    """A new watchdog that watches everything in _watched. Under _lock."""
    global _owner, _proc, _fd
    _close_pipe()
    if _proc is not None:
        _proc.poll()  # reap the dead one
    import subprocess

    read_end, write_end = os.pipe()  # both non-inheritable: no other child gets them
    try:
        # -I -S: the standard library only (~10 MB), whatever the environment says
        _proc = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__)],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            start_new_session=True,  # not killed with this process's group
        )
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    if _owner != os.getpid():
        _owner = os.getpid()
        atexit.unregister(_at_exit)  # a fork inherits the parent's registration
        atexit.register(_at_exit)
    _fd = write_end
    for pid in _watched:
        os.write(_fd, f"+{pid}\n".encode())  # a line at a time: each write is atomic


def _close_pipe() -> None:
    global _fd
    if _fd >= 0:
        os.close(_fd)
        _fd = -1


def _drop_inherited() -> None:
    """Drop a parent's watchdog state inherited through a fork (the parent keeps its
    watchdog; this process must neither hold its pipe open nor kill the parent's groups)."""
    global _owner, _proc, _watched
    _close_pipe()
    if _proc is not None:
        _proc.returncode = 0  # the parent's child, not ours: never wait for it nor warn
    _proc = None
    _owner = 0
    _watched = set()


def _at_exit() -> None:
    """On a normal exit, let the watchdog kill what is left before this process ends
    (the kernel would close the pipe anyway; waiting also reaps the watchdog)."""
    with _lock:
        if _owner != os.getpid() or _proc is None:
            return
        _close_pipe()
        proc = _proc
    import subprocess

    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    _drop_inherited()


def _started(pid: int) -> bytes | None:
    """When ``pid`` started (field 22 of ``/proc/PID/stat``), None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _serve(lines: BinaryIO) -> None:
    """The watchdog: keep the set of ``+PID`` / ``-PID`` lines until EOF, then SIGKILL
    every process group left in it. Asleep in read() until then."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    groups: dict[int, bytes | None] = {}
    for line in lines:
        try:
            pid = int(line[1:])
        except ValueError:
            continue
        if line.startswith(b"+"):
            groups[pid] = _started(pid)
        else:
            groups.pop(pid, None)
    for pid, born in groups.items():
        now = _started(pid)
        if born is not None and now is not None and now != born:
            continue  # the leader is gone and its pid belongs to another process now
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            try:  # not a group leader (a child in the caller's group): the process alone
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        except OSError:
            pass


if __name__ == "__main__":
    _serve(sys.stdin.buffer)
else:
    os.register_at_fork(after_in_child=_after_fork_in_child)
