"""The soak's worker pool tells a worker the soak killed from one that exited on its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from soak.workers import WorkerPool


def test_only_workers_that_exited_unkilled_are_reaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOAK_RECORD", raising=False)
    pool = WorkerPool(3, 1, {}, tmp_path)
    crashed = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    killed = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    pool.procs = [crashed, killed, running]
    pool.tags = ["w0.1", "w1.2", "w2.3"]
    try:
        crashed.wait(30)
        assert pool.kill(1) == "w1.2"
        assert pool.reap() == [(0, "w0.1", 3)]
        assert pool.procs[0] is None and pool.procs[2] is running
        assert pool.reap() == []  # counted once
    finally:
        running.kill()
        running.wait()
