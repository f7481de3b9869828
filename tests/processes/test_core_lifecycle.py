"""The task lifecycle with real worker processes: timeouts, cancel, retries,
priority, delay, idempotency, retention."""

from __future__ import annotations

import itertools
import time

import orjson
import pytest

from tests.processes.core_helpers import Env, pid_alive, statuses
from xqueue_core import TaskNotFound, XQueue
from xqueue_core.testing.services import eventually, wait_until


async def wait_terminal(app: XQueue, task_id: str, timeout: float = 30.0) -> None:
    async def done() -> bool:
        return (await app.get(task_id)).terminal

    await eventually(done, timeout, f"task {task_id} to finish")


def status_json(xenv: Env, task_id: str) -> dict:
    proc = xenv.cli("status", task_id, "--json")
    assert proc.returncode == 0, proc.stderr
    return orjson.loads(proc.stdout)


async def test_queue_timeout_needs_no_worker(xenv: Env, client: XQueue) -> None:
    task = await client.submit("sleep", {}, queue_timeout=0.3)
    wait_until(lambda: time.time() > task.created_at + 0.3, 5, "the queue timeout to pass")
    # the first read after the deadline already shows the outcome
    shown = status_json(xenv, task.id)
    assert shown["status"] == "timeout"
    assert shown["started_at"] is None
    assert xenv.terminal_events(task.id) == ["timeout"]


async def test_reaper_times_out_a_task_no_worker_pulls(xenv: Env, client: XQueue) -> None:
    busy = await client.submit("sleep", {"seconds": 30})
    xenv.worker("--concurrency", "1").wait_started()
    await eventually(lambda: xenv.records("start"), 20, "the busy task to start")
    task = await client.submit("sleep", {}, queue_timeout=0.3)

    def timed_out_in_db() -> bool:  # read the file directly: no read-time repair
        return xenv.sql("SELECT status FROM tasks WHERE id=?", task.id) == [("timeout",)]

    wait_until(timed_out_in_db, 10, "the reaper to time the task out")
    assert (await client.get(busy.id)).status == "processing"
    assert [r["task_id"] for r in xenv.records("start")] == [busy.id]


@pytest.mark.slow
async def test_process_timeout_stops_async_thread_and_process_handlers(
    xenv: Env, client: XQueue
) -> None:
    xenv.worker("--concurrency", "3").wait_started()
    # a handler process's start-up counts against its timeout: leave room for it
    limits = {"sleep": 0.5, "sync_sleep": 0.5, "proc_spin": 5.0}
    tasks = {
        kind: await client.submit(kind, {"seconds": 60}, process_timeout=limit)
        for kind, limit in limits.items()
    }
    for task in tasks.values():
        await wait_terminal(client, task.id)
    for kind, task in tasks.items():
        done = await client.get(task.id)
        assert done.status == "timeout", kind
        assert done.error == f"process timeout after {limits[kind]:g}s", kind
        assert xenv.terminal_events(task.id) == ["timeout"]
    ends = {r["type"]: r["outcome"] for r in xenv.records("end")}
    # the async run was cancelled, the thread got TaskCancelled raised inside it
    await eventually(lambda: "sync_sleep" in {r["type"] for r in xenv.records("end")}, 5)
    ends = {r["type"]: r["outcome"] for r in xenv.records("end")}
    assert ends["sleep"] == "CancelledError"
    assert ends["sync_sleep"] == "TaskCancelled"
    # the process run was killed: no end line, and its process is gone
    assert "proc_spin" not in ends
    spin_pid = next(r["pid"] for r in xenv.records("start") if r["type"] == "proc_spin")
    await eventually(lambda: not pid_alive(spin_pid), 5, "the handler process to die")


async def test_timeout_with_retries_runs_again_then_times_out(xenv: Env, client: XQueue) -> None:
    xenv.worker().wait_started()
    task = await client.submit("sleep", {"seconds": 60}, process_timeout=0.3, max_retry=1)
    await wait_terminal(client, task.id)
    done = await client.get(task.id)
    assert (done.status, done.retry) == ("timeout", 1)
    assert [r["attempt"] for r in xenv.records("start")] == [1, 2]


async def test_cancel_pending_task_never_runs(xenv: Env, client: XQueue) -> None:
    xenv.worker().wait_started()
    await client.set_concurrency("sleep", 0)  # paused: submitted tasks wait
    task = await client.submit("sleep", {})
    proc = xenv.cli("cancel", task.id)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{task.id} canceled"
    await client.set_concurrency("sleep", None)
    later = await client.submit("sleep", {})
    await wait_terminal(client, later.id)
    assert (await client.get(task.id)).status == "canceled"
    assert [r["task_id"] for r in xenv.records("start")] == [later.id]
    again = xenv.cli("cancel", task.id)
    assert again.returncode == 2
    assert again.stderr.strip() == f"error: task {task.id} already finished with status canceled"


@pytest.mark.slow
async def test_cancel_running_tasks_within_a_second(xenv: Env, client: XQueue) -> None:
    xenv.worker("--concurrency", "3").wait_started()
    tasks = {kind: await client.submit(kind, {"seconds": 60}) for kind in ("sleep", "sync_sleep")}
    tasks["proc_spin"] = await client.submit("proc_spin", {"seconds": 60})
    await eventually(lambda: len(xenv.records("start")) == 3, 20, "three runs to start")
    asked: dict[str, float] = {}
    for kind, task in tasks.items():
        if kind == "sleep":
            proc = xenv.cli("cancel", task.id)
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.strip() == f"{task.id} is running; cancel requested"
        else:
            await client.cancel(task.id)
        asked[kind] = time.time()  # the request is stored by now
    for task in tasks.values():
        await wait_terminal(client, task.id, 10)
    for kind, task in tasks.items():
        done = await client.get(task.id)
        assert done.status == "canceled", kind
        assert done.completed_at is not None
        # the heartbeat (every 0.5 s) carries the request to the worker
        assert done.completed_at - asked[kind] < 1.5, kind
    await eventually(lambda: len(xenv.records("end")) == 2, 5, "the handlers to stop")
    ends = {r["type"]: r["outcome"] for r in xenv.records("end")}
    assert ends == {"sleep": "CancelledError", "sync_sleep": "TaskCancelled"}
    spin_pid = next(r["pid"] for r in xenv.records("start") if r["type"] == "proc_spin")
    await eventually(lambda: not pid_alive(spin_pid), 5, "the handler process to die")


async def test_retries_back_off_then_succeed_or_fail(xenv: Env, client: XQueue) -> None:
    worker_env = xenv.env(XQUEUE_RETRY_BACKOFF="0.2")
    xenv.worker("--concurrency", "2", env=worker_env).wait_started()
    ok = await client.submit("flaky", {"succeed_on": 3}, max_retry=3)
    bad = await client.submit("flaky", {"succeed_on": 0}, max_retry=2)
    await wait_terminal(client, ok.id)
    await wait_terminal(client, bad.id)
    ok_done, bad_done = await client.get(ok.id), await client.get(bad.id)
    assert (ok_done.status, ok_done.retry, ok_done.result) == ("success", 2, 3)
    assert (bad_done.status, bad_done.retry) == ("failed", 2)
    assert bad_done.error == "RuntimeError: attempt 3 fails on purpose"
    for task, attempts in ((ok, 3), (bad, 3)):
        starts = [r for r in xenv.records("start") if r["task_id"] == task.id]
        assert [r["attempt"] for r in starts] == list(range(1, attempts + 1))
        # full jitter: retry n waits between half and all of 0.2 * 2**(n-1)
        gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(starts)]
        assert gaps[0] >= 0.1 and gaps[1] >= 0.2
        assert xenv.terminal_events(task.id) == [str((await client.get(task.id)).status)]


async def test_priority_orders_a_backlog(xenv: Env, client: XQueue) -> None:
    priorities = [0, 5, -3, 9, 5, 1, 0, 7, -3, 2]
    tasks = await client.submit_many(
        [{"type": "sleep", "payload": {}, "priority": p} for p in priorities]
    )
    env = xenv.env(XQUEUE_PRIORITY_FAIRNESS="1000")
    xenv.worker("--concurrency", "1", env=env).wait_started()
    for task in tasks:
        await wait_terminal(client, task.id)
    order = [r["task_id"] for r in xenv.records("start")]
    # higher priority first; equal priorities in submission order
    expected = [t.id for t in sorted(tasks, key=lambda t: -t.priority)]
    assert order == expected


async def test_low_priority_is_not_starved(xenv: Env, client: XQueue) -> None:
    low = await client.submit("sleep", {}, priority=-5)
    high = await client.submit_many(
        [{"type": "sleep", "payload": {}, "priority": 5} for _ in range(9)]
    )
    env = xenv.env(XQUEUE_PRIORITY_FAIRNESS="3")
    xenv.worker("--concurrency", "1", env=env).wait_started()
    for task in [low, *high]:
        await wait_terminal(client, task.id)
    order = [r["task_id"] for r in xenv.records("start")]
    # every third fetch takes the oldest message whatever its priority (else it would be last)
    assert order.index(low.id) <= 3


async def test_delayed_submit_starts_after_its_delay(xenv: Env, client: XQueue) -> None:
    xenv.worker().wait_started()
    # the grace before an unpublished task is handed out again must not delay it
    env = xenv.env(XQUEUE_PUBLISH_GRACE="60")
    proc = xenv.cli("submit", "sleep", "{}", "--delay", "1", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    shown = orjson.loads(proc.stdout)
    assert shown["status"] == "pending"
    task = await client.get(shown["id"])
    assert task.eta is not None and task.eta == pytest.approx(task.created_at + 1, abs=0.01)
    await wait_terminal(client, task.id, timeout=30)
    assert (await client.get(task.id)).status == "success"
    assert task.eta <= xenv.records("start")[0]["t"] < task.eta + 60


async def test_idempotency_key_returns_the_first_task(xenv: Env) -> None:
    xenv.worker().wait_started()
    first = xenv.cli("submit", "sleep", '{"a": 1}', "--idempotency-key", "k-1", "--json")
    second = xenv.cli("submit", "sleep", '{"a": 2}', "--idempotency-key", "k-1", "--json")
    assert first.returncode == second.returncode == 0
    one, two = orjson.loads(first.stdout), orjson.loads(second.stdout)
    assert one["id"] == two["id"] and two["payload"] == {"a": 1}
    assert xenv.sql("SELECT COUNT(*) FROM tasks") == [(1,)]


async def test_finished_tasks_are_purged_after_the_result_ttl(xenv: Env, client: XQueue) -> None:
    xenv.worker(env=xenv.env(XQUEUE_RESULT_TTL="0.5")).wait_started()
    task = await client.submit("sleep", {})

    async def purged() -> bool:
        try:
            await client.get(task.id)
        except TaskNotFound:
            return True
        return False

    await eventually(purged, 10, "the task to be purged")
    assert len(xenv.records("end")) == 1
    proc = xenv.cli("status", task.id)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: task {task.id!r} not found"


async def test_status_of_many_tasks_reads_consistently(xenv: Env, client: XQueue) -> None:
    """Every accepted task of a burst reaches exactly one terminal state."""
    tasks = await client.submit_many(
        [{"type": "flaky", "payload": {"succeed_on": 1 + i % 3}, "max_retry": 1} for i in range(30)]
    )
    xenv.worker("--concurrency", "8", env=xenv.env(XQUEUE_RETRY_BACKOFF="0.05")).wait_started()

    async def all_done() -> bool:
        return all(s in ("success", "failed") for s in await statuses(client, tasks))

    await eventually(all_done, 30, "the burst to finish")
    final = await statuses(client, tasks)
    assert final == ["success" if i % 3 != 2 else "failed" for i in range(30)]
    for task in tasks:
        assert len(xenv.terminal_events(task.id)) == 1


async def test_queue_timeout_does_not_cut_a_started_tasks_retry(xenv: Env, client: XQueue) -> None:
    env = xenv.env(XQUEUE_RETRY_BACKOFF="1.0", XQUEUE_RETRY_JITTER="false")
    xenv.worker(env=env).wait_started()
    # it starts at once; its retry is due after the queue timeout has passed
    task = await client.submit("flaky", {"succeed_on": 2}, max_retry=1, queue_timeout=0.5)
    await wait_terminal(client, task.id)
    done = await client.get(task.id)
    assert (done.status, done.retry, done.result) == ("success", 1, 2)


async def test_list_and_stats_never_show_an_overdue_task_as_pending(
    xenv: Env, client: XQueue
) -> None:
    task = await client.submit("sleep", {}, queue_timeout=0.3)
    wait_until(lambda: time.time() > task.created_at + 0.3, 5, "the queue timeout to pass")
    listing = xenv.cli("list", "--json")
    assert listing.returncode == 0, listing.stderr
    assert [t["status"] for t in orjson.loads(listing.stdout)["tasks"]] == ["timeout"]
    stats = xenv.cli("stats", "--json")
    assert orjson.loads(stats.stdout)["by_status"]["timeout"] == 1


async def test_a_cancel_requested_while_running_stops_retries(xenv: Env, client: XQueue) -> None:
    # a slow heartbeat: the request cannot reach the worker before the run fails
    env = xenv.env(XQUEUE_HEARTBEAT_INTERVAL="1.5", XQUEUE_RETRY_BACKOFF="0.05")
    xenv.worker(env=env).wait_started()
    task = await client.submit("once_slow_fail", {"seconds": 0.5}, max_retry=3)
    await eventually(lambda: xenv.records("start"), 20, "the run to start")
    await client.cancel(task.id)
    await wait_terminal(client, task.id)
    done = await client.get(task.id)
    assert (done.status, done.retry) == ("canceled", 0)
    assert len(xenv.records("start")) == 1
