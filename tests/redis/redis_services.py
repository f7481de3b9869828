"""Helpers for the Redis tests: redis-server argv, store URLs, worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

from xqueue_core.testing.services import ServiceProcess, wait_until

WORKER_SCRIPT = Path(__file__).with_name("redis_worker.py")


def url_for(server: ServiceProcess, prefix: str | None = None) -> str:
    """A store URL on ``server`` with a fresh (or the given) key prefix."""
    return f"redis://127.0.0.1:{server.port}/0?prefix={prefix or 't' + uuid.uuid4().hex[:12]}"


class Workers:
    """Worker processes running ``redis_worker.py``; each logs its runs under ``directory``."""

    def __init__(
        self, directory: Path, store: str, broker: str, obs: str | None = None, **env: str
    ) -> None:
        self.directory = directory
        self.env = {
            "XQ_STORE": store,
            "XQ_BROKER": broker,
            "XQ_DIR": str(directory),
            "XQUEUE_LOAD_PLUGINS": "redis",
            **env,
        }
        if obs is not None:
            self.env["XQ_OBS"] = obs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 1, **env: str) -> list[subprocess.Popen[bytes]]:
        """Start ``count`` workers and wait until each is running."""
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
        for proc in new:
            wait_until(
                lambda p=proc: (self.directory / f"ready.{p.pid}").exists() or p.poll() is not None,
                30,
                "a worker process to start",
            )
            assert proc.poll() is None, self.logs()
        return new

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

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

    def alive(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def runs(self, event: str = "start") -> Counter[str]:
        """How many times each task id was started (or finished) across every process."""
        counts: Counter[str] = Counter()
        for path in self.directory.glob("runs.*"):
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[0] == event:
                    counts[parts[1]] += 1
        return counts

    def runs_by_pid(self) -> dict[str, int]:
        """Which process finished each task."""
        out: dict[str, int] = {}
        for path in self.directory.glob("runs.*"):
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[0] == "done":
                    out[parts[1]] = int(parts[2])
        return out

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.directory.glob("worker-*.log"))
        )
