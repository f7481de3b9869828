"""Graceful shutdown on SIGTERM: finish within the grace period, else hand work back."""

from __future__ import annotations

import os
import signal

import pytest

from tests.processes.core_helpers import Env, descendants, pid_alive, statuses
from xqueue_core import XQueue
from xqueue_core.testing.services import eventually, wait_until


@pytest.mark.slow
async def test_sigterm_lets_running_tasks_finish(xenv: Env, client: XQueue) -> None:
    supervisor = xenv.worker("--processes", "2", "--concurrency", "1").wait_started(count=2)
    tasks = await client.submit_many(
        [{"type": "sleep", "payload": {"seconds": 1.5}} for _ in range(2)]
    )
    await eventually(lambda: len(xenv.records("start")) == 2, 20, "both tasks to start")
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(30) == 0
    assert await statuses(client, tasks) == ["success", "success"]
    assert supervisor.text().count("worker stopped") == 2
    assert xenv.sql("SELECT COUNT(*) FROM tasks WHERE status='processing'") == [(0,)]
    assert xenv.sql("SELECT COUNT(*) FROM messages") == [(0,)]


@pytest.mark.slow
async def test_sigterm_past_the_grace_period_hands_work_back(xenv: Env, client: XQueue) -> None:
    env = xenv.env(XQUEUE_GRACE_PERIOD="0.3")
    worker = xenv.worker("--concurrency", "2", env=env).wait_started()
    slow = await client.submit("once_slow", {"first": 60, "then": 0.05})
    sync = await client.submit("sync_sleep", {"seconds": 60})
    await eventually(lambda: len(xenv.records("start")) == 2, 20, "both tasks to start")
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    # both runs were interrupted and their tasks are waiting again, attempts not used up
    await eventually(lambda: len(xenv.records("end")) == 2, 5, "both handlers to stop")
    assert {r["outcome"] for r in xenv.records("end")} == {"CancelledError", "TaskCancelled"}
    rows = xenv.sql("SELECT status, retry, worker_id, lease_until FROM tasks ORDER BY id")
    assert rows == [("pending", 0, None, None), ("pending", 0, None, None)]
    await client.cancel(sync.id)  # it would only wait for the grace period again
    xenv.worker(env=env).wait_started()

    async def slow_done() -> bool:
        return (await client.get(slow.id)).terminal

    await eventually(slow_done, 20, "the handed-back task to run again")
    done = await client.get(slow.id)
    assert (done.status, done.retry, done.redeliveries) == ("success", 0, 0)
    assert done.result == 2  # the second run
    assert xenv.terminal_events(slow.id) == ["success"]


async def test_a_task_cancelled_during_shutdown_is_not_handed_back(
    xenv: Env, client: XQueue
) -> None:
    env = xenv.env(XQUEUE_GRACE_PERIOD="0.2", XQUEUE_HEARTBEAT_INTERVAL="1.5")
    worker = xenv.worker(env=env).wait_started()
    task = await client.submit("once_slow", {"first": 60, "then": 0.05})
    await eventually(lambda: xenv.records("start"), 20, "the run to start")
    await client.cancel(task.id)
    worker.signal(signal.SIGTERM)  # most likely before the heartbeat brings the cancel
    assert worker.wait(30) == 0
    done = await client.get(task.id)
    assert done.status == "canceled"
    assert xenv.terminal_events(task.id) == ["canceled"]


@pytest.mark.slow
async def test_ctrl_c_on_a_multi_process_worker_still_waits_for_running_tasks(
    xenv: Env, client: XQueue
) -> None:
    supervisor = xenv.worker("--processes", "2", "--concurrency", "1").wait_started(count=2)
    tasks = await client.submit_many(
        [{"type": "sleep", "payload": {"seconds": 1.5}} for _ in range(2)]
    )
    await eventually(lambda: len(xenv.records("start")) == 2, 20, "both tasks to start")
    os.killpg(supervisor.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    assert supervisor.wait(30) == 0
    assert await statuses(client, tasks) == ["success", "success"]
    assert "second signal" not in supervisor.text()


@pytest.mark.slow
async def test_worker_processes_stop_when_their_supervisor_is_killed(
    xenv: Env, client: XQueue
) -> None:
    supervisor = xenv.worker("--processes", "2", "--concurrency", "1").wait_started(count=2)
    pids = descendants(supervisor.pid)
    assert len(pids) == 2
    task = await client.submit("sleep", {"seconds": 1.0})
    await eventually(lambda: xenv.records("start"), 20, "the task to start")
    supervisor.signal(signal.SIGKILL)
    supervisor.wait(10)
    await eventually(lambda: not any(pid_alive(p) for p in pids), 30, "the workers to stop")
    # they stopped gracefully: the running task was finished, nothing left processing
    assert (await client.get(task.id)).status == "success"
    assert xenv.sql("SELECT COUNT(*) FROM tasks WHERE status='processing'") == [(0,)]


async def test_a_second_signal_hands_running_work_back_at_once(xenv: Env, client: XQueue) -> None:
    worker = xenv.worker(env=xenv.env(XQUEUE_GRACE_PERIOD="60")).wait_started()
    task = await client.submit("sleep", {"seconds": 60})
    await eventually(lambda: xenv.records("start"), 20, "the task to start")
    worker.signal(signal.SIGTERM)
    wait_until(lambda: "waiting for running tasks" in worker.text(), 10, "the grace period")
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0  # well before the 60 s grace period
    assert xenv.sql("SELECT status, retry FROM tasks WHERE id=?", task.id) == [("pending", 0)]


async def test_ctrl_c_lets_a_process_executor_handler_finish(xenv: Env, client: XQueue) -> None:
    worker = xenv.worker().wait_started()
    task = await client.submit("proc_spin", {"seconds": 1.0})
    await eventually(lambda: xenv.records("start"), 20, "the handler process to start")
    os.killpg(worker.pid, signal.SIGINT)  # the terminal signals the handler process too
    assert worker.wait(30) == 0
    assert (await client.get(task.id)).status == "success"
