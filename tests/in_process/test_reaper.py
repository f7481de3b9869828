"""The reaper: process groups a process registered die with it, however it ends.

Each test runs a child Python process that starts ``sleep`` groups in sessions of
their own and registers them; the test then ends the child (SIGKILL mostly, as
pytest-timeout or ``subprocess.run(timeout=...)`` would) and looks at what is left.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from xqueue_core.testing import reaper
from xqueue_core.testing.services import wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

PRELUDE = """
import json, os, subprocess, sys, threading, time
from xqueue_core.testing import reaper

def group(*argv):
    proc = subprocess.Popen(argv or ["sleep", "60"], start_new_session=True)
    reaper.watch(proc.pid)
    return proc.pid

def report(**pids):
    print(json.dumps(pids), flush=True)
"""


def stat(pid: int) -> list[str]:
    """Fields 3.. of /proc/PID/stat (state, ppid, pgrp, ...); empty once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def alive(pid: int) -> bool:
    fields = stat(pid)
    return bool(fields) and fields[0] != "Z"


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = stat(int(entry.name))
            if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def watchdogs(pid: int) -> list[int]:
    return [c for c in children(pid) if any(a.endswith("reaper.py") for a in cmdline(c))]


def the_watchdog(pid: int) -> int:
    """The one watchdog of ``pid``, once it shows: until its exec is done its command
    line is still the parent's (seen on a loaded machine)."""
    found: list[int] = []

    def one() -> bool:
        found[:] = watchdogs(pid)
        return len(found) == 1

    wait_until(one, 10, f"the watchdog of {pid}")
    return found[0]


def ignored(pid: int) -> set[int]:
    """The signals ``pid`` ignores (SigIgn in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            mask = int(line.split()[1], 16)
            return {n for n in range(1, 65) if mask & (1 << (n - 1))}
    return set()


def open_files(pid: int) -> set[str]:
    fds = Path(f"/proc/{pid}/fd")
    return {os.readlink(fds / fd) for fd in os.listdir(fds)}


class Child:
    """A Python child running PRELUDE + ``code``; ``pids`` is what it reported."""

    def __init__(self, code: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PRELUDE + code], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the child exited with {self.proc.wait()}"
        self.pids: dict[str, int] = json.loads(line)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        for pid in self.pids.values():
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass


@pytest.fixture
def child() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for c in started:
        c.cleanup()


def start(started: list[Child], code: str) -> Child:
    c = Child(code)
    started.append(c)
    return c


def test_the_groups_of_a_sigkilled_process_die_with_it(child: list[Child]) -> None:
    c = start(
        child,
        """
pids = {"shell": group("sh", "-c", "sleep 60 & sleep 60; wait")}
def more(i):  # registered from several threads at once, the first one starting the watchdog
    pids[f"t{i}"] = group()
threads = [threading.Thread(target=more, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
plain = subprocess.Popen(["sleep", "60"])  # in the child's own group: killed alone
reaper.watch(plain.pid)
report(plain=plain.pid, **pids)
time.sleep(60)
""",
    )
    wait_until(lambda: len(group_members(c.pids["shell"])) == 3, 10, "the shell's sleeps")
    groups = [pid for name, pid in c.pids.items() if name != "plain"]
    members = [c.pids["plain"], *(p for pgid in groups for p in group_members(pgid))]
    assert len(members) == 1 + 3 + 4 and all(alive(p) for p in members)
    watchdog = the_watchdog(c.proc.pid)  # one, whichever thread came first
    c.kill()
    wait_until(lambda: not any(alive(p) for p in members), 5, "the groups to be killed")
    wait_until(lambda: not alive(watchdog), 5, "the watchdog to exit")


def test_a_forgotten_group_is_left_running(child: list[Child]) -> None:
    c = start(
        child,
        """
kept, forgotten = group(), group()
reaper.forget(forgotten)
reaper.forget(12345678)  # never watched: ignored
report(kept=kept, forgotten=forgotten)
time.sleep(60)
""",
    )
    c.kill()
    wait_until(lambda: not alive(c.pids["kept"]), 5, "the watched group to be killed")
    assert alive(c.pids["forgotten"])


@pytest.mark.parametrize("ending", ["sys.exit(0)", "raise RuntimeError('boom')"])
def test_a_normal_exit_or_an_exception_kills_what_is_still_watched(
    child: list[Child], ending: str
) -> None:
    c = start(child, f"report(kept=group())\n{ending}\n")
    c.proc.wait(10)
    wait_until(lambda: not alive(c.pids["kept"]), 5, "the watched group to be killed")


def test_the_watchdog_ignores_sigint_and_sigterm(child: list[Child]) -> None:
    # a Ctrl-C ends the child even when the suite was started with SIGINT ignored (a
    # background job of a shell), which its children would inherit
    code = "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
    c = start(child, code + "report(kept=group())\ntime.sleep(60)\n")
    watchdog = the_watchdog(c.proc.pid)
    assert stat(watchdog)[3] == str(watchdog)  # a session of its own (field 6)
    wanted = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    wait_until(lambda: wanted <= ignored(watchdog), 5, "the watchdog to ignore signals")
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        os.kill(watchdog, signum)
    c.proc.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C would do to the child
    c.proc.wait(10)
    wait_until(lambda: not alive(c.pids["kept"]), 5, "the watched group to be killed")


def test_no_child_inherits_the_watchdogs_pipe(child: list[Child]) -> None:
    c = start(
        child,
        """
from xqueue_core.cli.supervisor import spawn_worker
kept = group()
worker = spawn_worker(["sleep", "60"])  # fork, setpgid, exec: what the supervisor does
plain = subprocess.Popen(["sleep", "60"], close_fds=False)
forked = os.fork()
if forked == 0:  # a fork that outlives the child must not keep the watchdog waiting
    time.sleep(60)
    os._exit(0)
report(kept=kept, worker=worker.pid, plain=plain.pid, forked=forked)
time.sleep(60)
""",
    )
    watchdog = the_watchdog(c.proc.pid)
    pipe = os.readlink(f"/proc/{watchdog}/fd/0")
    assert pipe.startswith("pipe:") and pipe in open_files(c.proc.pid)
    for name in ("kept", "worker", "plain"):
        pid = c.pids[name]
        wait_until(lambda p=pid: cmdline(p) == ["sleep", "60"], 5, f"{name} to exec")
        assert pipe not in open_files(pid), name
    forked = c.pids["forked"]  # its at-fork hook may run after the child reported
    wait_until(lambda: pipe not in open_files(forked), 5, "the fork to close the pipe")
    c.kill()
    wait_until(lambda: not alive(c.pids["kept"]), 5, "the watched group to be killed")
    assert alive(forked)  # not watched, nor holding the pipe


def test_the_watchdog_skips_a_pid_that_now_belongs_to_another_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    births = {101: [b"7", b"7"], 102: [b"7"], 103: [b"7", b"9"], 104: [None, None]}
    killed: list[tuple[str, int]] = []

    def killpg(pid: int, _signum: int) -> None:
        if pid == 104:
            raise ProcessLookupError  # no such group: a plain child, killed alone
        killed.append(("group", pid))

    monkeypatch.setattr(reaper, "_started", lambda pid: births[pid].pop(0))
    monkeypatch.setattr(reaper.signal, "signal", lambda *_: None)  # not this process's
    monkeypatch.setattr(reaper.os, "killpg", killpg)
    monkeypatch.setattr(reaper.os, "kill", lambda pid, _signum: killed.append(("pid", pid)))
    reaper._serve(io.BytesIO(b"+101\n+102\n-102\n+103\nnoise\n+104\n"))
    assert killed == [("group", 101), ("pid", 104)]  # 103: its pid was reused
