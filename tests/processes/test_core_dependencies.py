"""Task dependencies with real processes: a 1,000-member chord while workers are
SIGKILLed and (Redis) the store restarts — the callback runs once, after every member
ended, with all 1,000 results; the CLI submits a task that waits for two others and
shows and cancels a workflow; a bad parent id is one line, exit 2."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from tests.processes.core_helpers import Env
from xqueue_core import Node, XQueue
from xqueue_core.testing.services import ServiceProcess, eventually, redis_command

APP = "xqt_app:app"  # submits know the test handlers (no worker has announced them yet)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[ServiceProcess]:
    """This module's Redis keeps an AOF (fsync on every write): the chord test restarts it."""
    with ServiceProcess("redis-aof", redis_command(durable=True)) as server:
        yield server


@pytest.mark.slow
async def test_a_chord_of_1000_fires_its_callback_once_across_kills_and_a_restart(
    request: pytest.FixtureRequest, xenv: Env, on_every_broker: XQueue
) -> None:
    """3 workers run a chord of 1,000 members (50 ms each); two workers are SIGKILLed
    and replaced while members run, and on a Redis store the server is SIGKILLed and
    started again: every member ends in success, and the callback starts exactly once,
    after the last member ended, with 1,000 results."""
    keyed = on_every_broker
    on_redis = "redis" in xenv.vars["XQUEUE_LOAD_PLUGINS"]
    redis: ServiceProcess | None = request.getfixturevalue("redis_server") if on_redis else None
    workers = [xenv.worker("--concurrency", "8") for _ in range(3)]
    for w in workers:
        w.wait_started()
    chord = await keyed.chord(
        [Node.of("sleep", {"seconds": 0.05}) for _ in range(1000)], Node.of("gather")
    )
    callback = chord.task_ids["callback"]

    def started(n: int) -> bool:
        return len(xenv.records("start")) >= n

    await eventually(lambda: started(100), 30, "100 members to start")
    workers[0].kill_group()
    workers[0] = xenv.worker("--concurrency", "8")
    if redis is not None:
        redis.restart()  # SIGKILL, then start again on the same port
    await eventually(lambda: started(400), 60, "400 members to start")
    workers[1].kill_group()
    workers[1] = xenv.worker("--concurrency", "8")
    state = await keyed.wait_workflow(chord.id, timeout=120)
    assert state.status == "success", state.counts()
    assert state.counts() == {"success": 1001}
    records = xenv.records()
    gathered = [r for r in records if r["kind"] == "start" and r["task_id"] == callback]
    assert len(gathered) == 1, gathered  # once: no worker was killed while it could run
    assert gathered[0]["parents"] == 1000 and gathered[0]["missing"] == 0
    member_ends = [r["t"] for r in records if r["kind"] == "end" and r["task_id"] != callback]
    assert gathered[0]["t"] >= max(member_ends)
    assert (await keyed.get(callback)).result == {"parents": 1000, "missing": 0}


async def test_the_cli_submits_a_task_that_waits_for_two_others(xenv: Env, client: XQueue) -> None:
    parents = []
    for seconds in (0.3, 0.1):
        payload = orjson.dumps({"seconds": seconds}).decode()
        proc = xenv.cli("submit", "sleep", payload, "--app", APP, "--json")
        assert proc.returncode == 0, proc.stderr
        parents.append(orjson.loads(proc.stdout)["id"])
    args = [a for p in parents for a in ("--depends-on", p)]
    proc = xenv.cli("submit", "sleep", "{}", *args, "--app", APP, "--json")
    assert proc.returncode == 0, proc.stderr
    child = orjson.loads(proc.stdout)
    assert child["status"] == "waiting" and child["depends_on"] == parents
    assert child["on_parent_failure"] == "cancel"
    bad = xenv.cli("submit", "sleep", "{}", "--depends-on", "nope", "--app", APP)
    assert bad.returncode == 2 and bad.stderr == "error: depends_on: no task 'nope' in this store\n"
    assert xenv.sql("SELECT COUNT(*) FROM tasks") == [(3,)]
    xenv.worker("--concurrency", "4").wait_started()

    async def child_done() -> bool:
        return str((await client.get(child["id"])).status) == "success"

    await eventually(child_done, 30, "the child to run")
    records = xenv.records()
    start = next(r["t"] for r in records if r["kind"] == "start" and r["task_id"] == child["id"])
    ends = [r["t"] for r in records if r["kind"] == "end" and r["task_id"] in parents]
    assert len(ends) == 2 and start >= max(ends)


async def test_workflow_status_and_cancel_from_the_cli(xenv: Env, client: XQueue) -> None:
    chord = await client.chord(
        [Node.of("sleep", {"seconds": 0}) for _ in range(3)], Node.of("sleep")
    )
    proc = xenv.cli("workflow", "status", chord.id, "--json")
    assert proc.returncode == 0, proc.stderr
    shown = orjson.loads(proc.stdout)
    assert shown["status"] == "running" and shown["counts"] == {"pending": 3, "waiting": 1}
    assert {t["id"] for t in shown["tasks"]} == set(chord.task_ids.values())
    text = xenv.cli("workflow", "status", chord.id)
    assert text.returncode == 0 and f"workflow {chord.id}: running" in text.stdout
    proc = xenv.cli("workflow", "cancel", chord.id, "--json")
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout)["counts"] == {"canceled": 4}
    missing = xenv.cli("workflow", "status", "nope")
    assert missing.returncode == 2 and missing.stderr == "error: no workflow 'nope'\n"
