"""Replaying dead tasks with real processes, on both stores: a bulk replay of 500
dead tasks over the REST API (``xqueue api``) while workers are SIGKILLed makes
exactly 500 new tasks, each run to success once; the CLI replays one, twice."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from tests.http.http_helpers import HttpServer
from tests.processes.core_helpers import Env, statuses
from xqueue_core import XQueue
from xqueue_core.testing.services import eventually


async def dead_tasks(xenv: Env, app: XQueue, n: int, seconds: float = 0.0) -> list[str]:
    """``n`` tasks of ``fail_first`` run to ``failed`` by a worker of their own."""
    tasks = await app.submit_many(
        [{"type": "fail_first", "payload": {"n": i, "seconds": seconds}} for i in range(n)]
    )
    worker = xenv.worker("--concurrency", "50")

    async def all_dead() -> bool:
        return set(await statuses(app, tasks)) == {"failed"}

    await eventually(all_dead, 60, f"{n} tasks to fail")
    worker.kill_group()
    return [t.id for t in tasks]


@pytest.mark.slow
async def test_a_bulk_replay_of_500_makes_500_tasks_each_run_once(xenv: Env, keyed: XQueue) -> None:
    dead = await dead_tasks(xenv, keyed, 500, seconds=0.1)
    on_redis = xenv.vars["XQUEUE_LOAD_PLUGINS"] == "redis"
    url = xenv.vars["XQUEUE_STORE"]
    plugins = "http,redis" if on_redis else "http"
    api = HttpServer(xenv.dir, "api", app=None, backend=url, env={"XQUEUE_LOAD_PLUGINS": plugins})
    workers = [xenv.worker("--concurrency", "8") for _ in range(3)]
    try:
        api.start()
        with api.client() as rest:
            dry = rest.post("/tasks/replay", json={"type": "fail_first", "dry_run": True})
            assert dry.json() == {"matched": 500, "replayed": 0, "dry_run": True, "tasks": {}}
            done = rest.post("/tasks/replay", json={"type": "fail_first", "status": "failed"})
            assert done.status_code == 200, done.text
            report = done.json()
            again = rest.post("/tasks/replay", json={"type": "fail_first"}).json()
        assert report["matched"] == report["replayed"] == 500
        assert set(report["tasks"]) == set(dead)
        assert again["matched"] == 0  # each dead task is replayed once
        for victim, starts in ((0, 650), (1, 800)):  # while the replays run

            def started(n: int = starts) -> bool:
                return len(xenv.records("start")) >= n

            await eventually(started, 60, f"{starts} starts")
            workers[victim].kill_group()
            workers[victim] = xenv.worker("--concurrency", "8")
    finally:
        if api.proc is not None:
            api.stop()
    replays = list(report["tasks"].values())

    async def all_ran() -> bool:
        return set(await statuses(keyed, replays)) == {"success"}

    await eventually(all_ran, 120, "the 500 replays to succeed")
    wanted = set(replays)
    ends = Counter(
        r["task_id"] for r in xenv.records("end") if r["task_id"] in wanted and r["outcome"] == "ok"
    )
    assert len(ends) == 500 and set(ends.values()) == {1}  # each ran to its end once
    for old_id, new_id in list(report["tasks"].items())[:20]:
        old, new = await keyed.get(old_id), await keyed.get(new_id)
        assert old.status == "failed" and old.replayed_by == new_id and new.replay_of == old_id
    assert (await keyed.stats())["by_type"]["fail_first"] == 1000


async def test_replay_from_the_cli(xenv: Env, client: XQueue) -> None:
    [dead] = await dead_tasks(xenv, client, 1)
    proc = xenv.cli("replay", dead, "--json")
    assert proc.returncode == 0, proc.stderr
    first = orjson.loads(proc.stdout)
    assert first["created"] is True and first["task"]["replay_of"] == dead
    again = orjson.loads(xenv.cli("replay", dead, "--json").stdout)
    assert again["created"] is False and again["task"]["id"] == first["task"]["id"]
    text = xenv.cli("replay", dead).stdout
    assert text.startswith(f"{dead} was replayed before, as {first['task']['id']}")
    for args, message in [
        ((), "an empty filter replays every dead task"),
        (("--status", "failed", dead), "give a task ID or a filter, not both"),
        (("--since", "yesterday"), "since must be an ISO 8601 time"),
        ((first["task"]["id"],), "only failed or timed-out tasks are replayed"),
        (("nope",), "task 'nope' not found"),
    ]:
        bad = xenv.cli("replay", *args)
        assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
        assert bad.stderr.count("\n") == 1 and message in bad.stderr, bad.stderr
    dry = orjson.loads(xenv.cli("replay", "--all", "--dry-run", "--json").stdout)
    assert dry["matched"] == 0  # the one dead task was replayed already
