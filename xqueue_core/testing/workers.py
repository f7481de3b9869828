"""Worker processes for fault tests: start, wait until ready, kill, and read their run logs.

Each process runs a test's worker script; the script writes ``ready.<pid>`` in the
directory once it takes work, and appends one line per run to ``runs.<pid>``
(``start|done task_id ...``). Tests kill processes with SIGKILL and then check
from the run logs that no task ran twice or got lost.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from ..models import Task
from . import reaper
from .services import wait_until


class WorkerProcesses:
    """Processes running ``script`` with ``env``; their output goes to ``worker-N.log``."""

    ready_what = "a worker process to start"

    def __init__(self, directory: Path, script: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.script = script
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 1, wait: bool = True, **env: str) -> list[subprocess.Popen[bytes]]:
        """Start ``count`` processes; with ``wait``, until each says it is ready."""
        new = []
        for _ in range(count):
            log = (self.directory / f"worker-{len(self.procs)}.log").open("ab")
            proc = subprocess.Popen(
                [sys.executable, str(self.script)],
                env={**os.environ, **self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group: the reaper kills what it started too
            )
            reaper.watch(proc.pid)  # killed when the test run ends, even by SIGKILL
            log.close()
            self.procs.append(proc)
            new.append(proc)
        if wait:
            for proc in new:
                self.wait_ready(proc)
        return new

    def wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        wait_until(
            lambda: (self.directory / f"ready.{proc.pid}").exists() or proc.poll() is not None,
            30,
            self.ready_what,
        )
        assert proc.poll() is None, self.logs()

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no chance to hand anything back."""
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        reaper.forget(proc.pid)

    def terminate(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM: a graceful stop."""
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        reaper.forget(proc.pid)

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after 15 seconds)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            reaper.forget(proc.pid)

    def alive(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def run_lines(self) -> Iterator[list[str]]:
        """Every run-log line, split into words, process by process in order."""
        for path in sorted(self.directory.glob("runs.*")):
            for line in path.read_text().splitlines():
                yield line.split()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.directory.glob("worker-*.log"))
        )


def append_record(path: str | os.PathLike[str] | None, kind: str, **fields: Any) -> None:
    """Append one JSON line (``kind``, time, pid and ``fields``) to the record file at
    ``path``, under an exclusive lock, so the file order is the real order across
    processes. A no-op when ``path`` is empty."""
    if not path:
        return
    line = orjson.dumps({"kind": kind, "t": time.time(), "pid": os.getpid(), **fields})
    with open(path, "ab", buffering=0) as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line + b"\n")


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every line :func:`append_record` wrote to ``path`` (none if there is no file)."""
    try:
        with open(path, "rb") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)
            data = fh.read()
    except FileNotFoundError:
        return []
    return [orjson.loads(line) for line in data.splitlines() if line]


def most_at_once(runs: Iterable[Task]) -> int:
    """The most of ``runs`` at once by the store's ``started_at``/``completed_at`` (a run
    that ends at the instant another starts does not overlap it): what a limit allowed,
    on the store's clock."""
    edges: list[tuple[float, int]] = []
    for t in runs:
        assert t.started_at is not None and t.completed_at is not None, t
        edges += [(t.started_at, 1), (t.completed_at, -1)]
    top = now = 0
    for _, step in sorted(edges):  # at one instant, ends before starts
        now += step
        top = max(top, now)
    return top
