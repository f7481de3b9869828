"""The live workers with real worker processes, on both stores: every worker process
listed with its host, pid, types, concurrency and running tasks; one that stops is
gone at once, one SIGKILLed is gone once its last report is a lease (2 s) old."""

from __future__ import annotations

import signal
import socket

import orjson
import pytest

from tests.processes.core_helpers import Env, descendants
from xqueue_core import XQueue, __version__
from xqueue_core.testing.services import eventually


def listed(xenv: Env) -> dict[int, dict]:
    """``xqueue workers --json``, by pid."""
    proc = xenv.cli("workers", "--json")
    assert proc.returncode == 0, proc.stderr
    return {w["pid"]: w for w in orjson.loads(proc.stdout)}


@pytest.mark.slow
async def test_workers_are_listed_and_gone_when_they_stop_or_die(xenv: Env, keyed: XQueue) -> None:
    single = xenv.worker("--concurrency", "4").wait_started()
    pair = xenv.worker("--processes", "2", "--concurrency", "3").wait_started(count=2)
    # 8 s each: the 6 stay running while the reports (every 0.67 s) and the CLI catch up
    tasks = await keyed.submit_many([{"type": "sleep", "payload": {"seconds": 8}}] * 6)
    pair_pids = set(descendants(pair.pid))

    def all_running() -> bool:
        shown = listed(xenv)
        running = {r for w in shown.values() for r in w["running"]}
        return set(shown) >= {single.pid} and running == {t.id for t in tasks}

    await eventually(all_running, 30, "the 6 running tasks in the workers' records")
    shown = listed(xenv)
    assert len(shown) == 3 and set(shown) - {single.pid} <= pair_pids
    one = shown[single.pid]
    assert one["host"] == socket.gethostname() and one["concurrency"] == 4
    assert one["version"] == __version__ and "sleep" in one["types"]
    assert {w["concurrency"] for pid, w in shown.items() if pid != single.pid} == {3}
    assert one["started_at"] <= one["last_seen"] < one["expires_at"]
    table = xenv.cli("workers").stdout
    assert str(single.pid) in table and "LAST SEEN" in table

    single.kill_group()  # no goodbye: gone once its last report is a lease old
    await eventually(lambda: single.pid not in listed(xenv), 10, "the killed worker to go")
    assert len(listed(xenv)) == 2
    pair.signal(signal.SIGTERM)  # a graceful stop: its processes forget themselves
    assert pair.wait(30) == 0
    assert listed(xenv) == {}
    assert xenv.cli("workers").stdout.strip() == "no live worker"
