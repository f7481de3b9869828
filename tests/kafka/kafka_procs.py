"""Worker processes for the Kafka fault tests, and what their run logs say."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from xqueue_core.testing.services import wait_until

WORKER_SCRIPT = Path(__file__).with_name("kafka_worker.py")


class Run:
    """One line of a run log: ``start|done task_id pid type``."""

    def __init__(self, line: str) -> None:
        self.event, self.task_id, pid, self.type = line.split()
        self.pid = int(pid)


class Workers:
    """Worker processes running ``kafka_worker.py``; each logs its runs under ``directory``."""

    def __init__(self, directory: Path, broker: str, store: str, **env: str) -> None:
        self.directory = directory
        self.env = {
            "XQ_BROKER": broker,
            "XQ_STORE": store,
            "XQ_DIR": str(directory),
            "XQUEUE_LOAD_PLUGINS": "kafka",
            **env,
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 1, wait: bool = True, **env: str) -> list[subprocess.Popen[bytes]]:
        """Start ``count`` workers; with ``wait``, until each consumer holds partitions."""
        new = []
        for _ in range(count):
            log = (self.directory / f"worker-{len(self.procs)}.log").open("ab")
            proc = subprocess.Popen(
                [sys.executable, str(WORKER_SCRIPT)],
                env={**os.environ, **self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
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
            "a worker process to join the consumer group",
        )
        assert proc.poll() is None, self.logs()

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def terminate(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def runs(self) -> list[Run]:
        """Every logged start and finish, per process in order."""
        out: list[Run] = []
        for path in sorted(self.directory.glob("runs.*")):
            out.extend(Run(line) for line in path.read_text().splitlines() if line.count(" ") == 3)
        return out

    def count(self, event: str = "start") -> Counter[str]:
        """How many times each task id was started (or finished) across every process."""
        return Counter(r.task_id for r in self.runs() if r.event == event)

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in self.directory.glob("worker-*.log")
        )
