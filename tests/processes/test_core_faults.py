"""Crashes and stalls: kill -9 mid-task, handlers that block past their lease, restarts."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.processes.core_helpers import Env, descendants, pid_alive
from xqueue_core import XQueue
from xqueue_core.testing.services import eventually

LEASE = 2.0  # XQUEUE_LEASE_TTL of the workers (Env default)
HEARTBEAT = 0.5  # the default heartbeat interval


async def finished(app: XQueue, task_id: str, timeout: float = 30.0) -> None:
    async def done() -> bool:
        return (await app.get(task_id)).terminal

    await eventually(done, timeout, f"task {task_id} to finish")


@pytest.mark.slow
async def test_kill_9_mid_task_reruns_after_the_lease_with_one_outcome(
    xenv: Env, client: XQueue
) -> None:
    first = xenv.worker("--concurrency", "1").wait_started()
    second = xenv.worker("--concurrency", "1").wait_started()
    task = await client.submit("once_slow", {"first": 60, "then": 0.1})
    await eventually(lambda: xenv.records("start"), 20, "the first run to start")
    victim = next(w for w in (first, second) if w.pid == xenv.records("start")[0]["pid"])
    survivor = second if victim is first else first
    victim.signal(signal.SIGKILL)
    killed_at = time.time()
    victim.wait(10)

    await finished(client, task.id)
    done = await client.get(task.id)
    starts = xenv.records("start")
    assert done.status == "success"
    assert done.redeliveries == 1 and done.retry == 0
    assert [s["pid"] for s in starts] == [victim.pid, survivor.pid]
    assert [e["outcome"] for e in xenv.records("end")] == ["ok"]
    # re-run only once the dead worker's last renewed lease ran out, not earlier
    assert starts[1]["t"] >= killed_at + LEASE - HEARTBEAT - 0.1
    assert xenv.terminal_events(task.id) == ["success"]
    assert xenv.sql("SELECT COUNT(*) FROM tasks WHERE status='processing'") == [(0,)]


@pytest.mark.slow
@pytest.mark.parametrize("task_type", ["block", "hog"])
async def test_a_handler_stalling_the_loop_past_its_lease_gets_no_second_copy(
    xenv: Env, client: XQueue, task_type: str
) -> None:
    # two workers: either could take a second copy if the lease lapsed
    workers = [xenv.worker("--concurrency", "1") for _ in range(2)]
    for w in workers:
        w.wait_started()
    task = await client.submit(task_type, {"seconds": 2.5 * LEASE})
    await finished(client, task.id)
    done = await client.get(task.id)
    assert done.status == "success", done.error
    assert done.redeliveries == 0
    assert len(xenv.records("start")) == 1
    assert xenv.terminal_events(task.id) == ["success"]
    assert all(w.proc.poll() is None for w in workers)


@pytest.mark.slow
async def test_worker_killed_and_restarted_loses_no_task(xenv: Env, client: XQueue) -> None:
    tasks = await client.submit_many(
        [{"type": "sleep", "payload": {"seconds": 0.3}} for _ in range(12)]
    )
    worker = xenv.worker("--concurrency", "3").wait_started()

    def recorded() -> int:
        return int(xenv.sql("SELECT COUNT(*) FROM tasks WHERE status='success'")[0][0])

    # Kill once three outcomes are in the store, while the next runs sleep: a run that
    # ended but whose outcome was not written yet would run again (at-least-once), and
    # the count below could not tell it from a second run of a finished task.
    await eventually(lambda: recorded() >= 3, 20, "three outcomes to be recorded")
    worker.signal(signal.SIGKILL)
    worker.wait(10)
    interrupted = len(xenv.records("start")) - len(xenv.records("end"))
    xenv.worker("--concurrency", "3").wait_started()
    for task in tasks:
        await finished(client, task.id)
    for task in tasks:
        assert (await client.get(task.id)).status == "success"
        assert xenv.terminal_events(task.id) == ["success"]
    # every task ran to its end once; the runs cut by the kill ran again
    ends = [r["task_id"] for r in xenv.records("end")]
    assert sorted(ends) == sorted(t.id for t in tasks)
    assert len(xenv.records("start")) == len(tasks) + interrupted


@pytest.mark.slow
async def test_cancel_of_a_task_whose_worker_died_is_not_rerun(xenv: Env, client: XQueue) -> None:
    worker = xenv.worker("--concurrency", "1").wait_started()
    task = await client.submit("once_slow", {"first": 60, "then": 0.1})
    await eventually(lambda: xenv.records("start"), 20, "the run to start")
    worker.signal(signal.SIGKILL)
    worker.wait(10)
    asked = await client.cancel(task.id)  # still 'processing': its lease has not run out
    assert asked.status == "processing"
    xenv.worker("--concurrency", "1").wait_started()
    await finished(client, task.id)
    done = await client.get(task.id)
    assert done.status == "canceled"
    assert len(xenv.records("start")) == 1
    assert xenv.terminal_events(task.id) == ["canceled"]


@pytest.mark.slow
async def test_supervisor_replaces_a_killed_worker_process(xenv: Env, client: XQueue) -> None:
    supervisor = xenv.worker("--processes", "2", "--concurrency", "1").wait_started(count=2)
    task = await client.submit("once_slow", {"first": 60, "then": 0.1})
    await eventually(lambda: xenv.records("start"), 20, "the run to start")
    victim = xenv.records("start")[0]["pid"]
    assert victim in descendants(supervisor.pid)
    os.kill(victim, signal.SIGKILL)
    supervisor.wait_started(count=3)  # a replacement process
    await finished(client, task.id)
    done = await client.get(task.id)
    assert (done.status, done.redeliveries) == ("success", 1)
    assert len(descendants(supervisor.pid)) == 2
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(30) == 0


async def test_a_handler_process_dies_with_its_killed_worker(xenv: Env, client: XQueue) -> None:
    worker = xenv.worker().wait_started()
    await client.submit("proc_spin", {"seconds": 60})
    await eventually(lambda: xenv.records("start"), 20, "the handler process to start")
    handler_pid = xenv.records("start")[0]["pid"]
    assert handler_pid != worker.pid
    worker.signal(signal.SIGKILL)  # the worker only, not its process group
    worker.wait(10)
    await eventually(lambda: not pid_alive(handler_pid), 10, "the handler process to die")
