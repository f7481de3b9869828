"""Helpers for the Redis broker tests: redis-server argv, URLs, worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from xqueue_core import XQueue
from xqueue_core.models import TaskStatus
from xqueue_core.testing import reaper
from xqueue_core.testing.services import ServiceProcess, wait_until
from xqueue_core.testing.workers import read_records

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
XQUEUE = str(Path(sys.executable).parent / "xqueue")
TERMINAL = {str(s) for s in TaskStatus if s.terminal}


def url_for(server: ServiceProcess, prefix: str | None = None) -> str:
    """A URL on ``server`` with a fresh (or the given) key prefix: empty streams and store."""
    return f"redis://127.0.0.1:{server.port}/0?prefix={prefix or 'b' + uuid.uuid4().hex[:12]}"


class Worker:
    """``xqueue worker rb_app:app`` in its own process group, logging to a file."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                cwd=HERE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.proc.pid
        reaper.watch(self.pid)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_started(self, timeout: float = 30.0) -> Worker:
        def started() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.text()}")
            return "worker started" in self.text()

        wait_until(started, timeout, "a worker to start")
        return self

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(10)
        reaper.forget(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()
        reaper.forget(self.pid)


class Cluster:
    """One test's worker processes, all on the same Redis URL (broker and store)."""

    def __init__(self, tmp: Path, url: str, lease_ttl: float = 2.0) -> None:
        self.dir = tmp
        self.url = url
        self.record_file = tmp / "record.jsonl"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("XQUEUE_")},
            "XQUEUE_BROKER": url,
            "XQUEUE_STORE": url,
            "XQUEUE_LOAD_PLUGINS": "redis",
            "XQUEUE_LEASE_TTL": str(lease_ttl),
            "XQUEUE_HEARTBEAT_INTERVAL": "0.25",
            "XQUEUE_GRACE_PERIOD": "5",
            "XQUEUE_LOG_LEVEL": "info",
            "RB_RECORD": str(self.record_file),
            "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)]),
        }
        self.workers: list[Worker] = []

    def worker(self, *args: str) -> Worker:
        log = self.dir / f"worker-{len(self.workers)}.log"
        worker = Worker([XQUEUE, "worker", "rb_app:app", *args], self.env, log)
        self.workers.append(worker)
        return worker

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        rows = read_records(self.record_file)
        return [r for r in rows if kind is None or r["kind"] == kind]

    def logs(self) -> str:
        return "\n".join(f"--- {w.log.name}\n{w.text()[-3000:]}" for w in self.workers)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()


async def terminal_events(app: XQueue) -> dict[str, list[str]]:
    """Terminal status events per task id, from the store's event log (oldest kept first)."""
    _, store = app.backends()
    out: dict[str, list[str]] = {}
    cursor: str | None = "0"
    while True:
        batch = await store.read_events(cursor, 1000, 0)
        if not batch:
            return out
        cursor = batch[-1][0]
        for _, event in batch:
            if event.kind == "status" and str(event.status) in TERMINAL:
                out.setdefault(event.task_id, []).append(str(event.status))
