"""Task dependencies with real processes: the CLI submits a task that waits for two
others, a worker runs it only after both ended; a bad parent id is one line, exit 2."""

from __future__ import annotations

import orjson

from tests.processes.core_helpers import Env
from xqueue_core import Node, XQueue
from xqueue_core.testing.services import eventually

APP = "xqt_app:app"  # submits know the test handlers (no worker has announced them yet)


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
