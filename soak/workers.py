"""Worker processes of the soak: started, SIGKILLed and restarted by the driver."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from xqueue_core.testing import processes, reaper
from xqueue_core.testing.processes import rss_bytes, xqueue_command

from .app import record


class WorkerPool:
    """``count`` single-process ``xqueue worker`` commands; slot 0 is never killed."""

    def __init__(self, count: int, concurrency: int, env: dict[str, str], workdir: Path) -> None:
        self.count = count
        self.concurrency = concurrency
        self.env = env
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * count
        self.tags = [""] * count
        self.generation = 0
        self.started_total = 0
        self._killing: set[int] = set()  # slots the soak is killing right now

    def log_path(self, slot: int) -> Path:
        """Each start of a slot logs to its own file (``worker-w0.1.log``)."""
        return self.workdir / f"worker-{self.tags[slot]}.log"

    def start(self, slot: int) -> None:
        self.generation += 1
        self.started_total += 1
        tag = f"w{slot}.{self.generation}"
        self.tags[slot] = tag
        argv = xqueue_command("worker", "soak.app:app", "--concurrency", str(self.concurrency))
        env = {**self.env, "SOAK_WORKER": tag}
        self.procs[slot] = processes.start(argv, self.log_path(slot), env, self.workdir)

    def alive(self, slot: int) -> bool:
        proc = self.procs[slot]
        return proc is not None and proc.poll() is None

    def kill(self, slot: int) -> str:
        """SIGKILL the worker's whole process group; record it once it is dead."""
        proc = self.procs[slot]
        tag = self.tags[slot]
        self._killing.add(slot)
        try:
            if proc is not None:
                alive = proc.poll() is None
                processes.kill(proc)
                if alive:
                    record("killed", worker=tag)
            self.procs[slot] = None
        finally:
            self._killing.discard(slot)
        return tag

    def reap(self) -> list[tuple[int, str, int]]:
        """Workers that exited without the soak killing them: (slot, tag, exit code)
        each. Their slots are then free to start again."""
        gone: list[tuple[int, str, int]] = []
        for slot, proc in enumerate(self.procs):
            if slot in self._killing or proc is None:
                continue
            code = proc.poll()
            if code is not None:
                gone.append((slot, self.tags[slot], code))
                reaper.forget(proc.pid)
                self.procs[slot] = None
        return gone

    def wait_started(self, slot: int, timeout: float = 60.0) -> None:
        """Until the worker logged that it started (it then takes tasks)."""
        give_up = time.monotonic() + timeout
        tag = self.tags[slot]
        while time.monotonic() < give_up:
            proc = self.procs[slot]
            if proc is None or proc.poll() is not None:
                raise RuntimeError(f"worker {tag} exited at start: {self.tail(slot)}")
            if "worker started" in self.log_path(slot).read_text(errors="replace"):
                return
            time.sleep(0.05)
        raise RuntimeError(f"worker {tag} did not start within {timeout}s: {self.tail(slot)}")

    def tail(self, slot: int, lines: int = 15) -> str:
        try:
            text = self.log_path(slot).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def rss(self, slot: int) -> int:
        proc = self.procs[slot]
        return rss_bytes(proc.pid) if proc is not None and proc.poll() is None else 0

    def stop_all(self, grace: float = 10.0) -> None:
        """SIGTERM (graceful shutdown), then SIGKILL what did not stop within ``grace``."""
        processes.stop([p for p in self.procs if p is not None], grace)
        self.procs = [None] * self.count
