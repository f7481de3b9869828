"""Pausing a type with real worker processes, on every broker: the runs going on
finish, nothing of the type starts while other types keep finishing, and a resume
(from the CLI) lets all of its queued tasks run, never more at once than its limit."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from tests.processes.core_helpers import Env, running_counts, statuses
from xqueue_core import XQueue
from xqueue_core.testing.services import eventually


@pytest.mark.slow
async def test_a_paused_type_starts_nothing_until_it_is_resumed(
    xenv: Env, on_every_broker: XQueue
) -> None:
    """3 tasks of a type with a limit of 3 run (2 s each) and 100 more are queued: pause
    — the 3 finish, none of the 100 starts for 5 s while 20 tasks of another type
    finish; resume — all 100 finish, never more than 3 at once."""
    app = on_every_broker
    await app.set_concurrency("limited", 3)
    long = await app.submit_many([{"type": "limited", "payload": {"seconds": 2}}] * 3)
    for _ in range(2):
        xenv.worker("--concurrency", "10").wait_started()
    await eventually(lambda: len(xenv.records("start")) >= 3, 30, "the 3 long runs to start")
    queued = await app.submit_many([{"type": "limited", "payload": {"seconds": 0.05}}] * 100)
    assert await app.pause("limited") is True  # the 3 still hold every slot of the type
    paused_at = time.time()
    assert "limited" in (await app.stats())["paused"]
    assert (await app.get_concurrency())["limited"]["paused"] is True
    others = await app.submit_many([{"type": "other", "payload": {"seconds": 0.05}}] * 20)

    async def others_done() -> bool:
        return set(await statuses(app, others)) == {"success"}

    await eventually(others_done, 30, "the other type's tasks to finish while paused")
    await asyncio.sleep(max(0.0, paused_at + 5 - time.time()))
    assert set(await statuses(app, long)) == {"success"}  # the runs going on finished
    assert set(await statuses(app, queued)) == {"pending"}  # and nothing else started
    started = {r["task_id"] for r in xenv.records("start") if r["type"] == "limited"}
    assert started == {t.id for t in long}

    proc = xenv.cli("resume", "limited", "--json")
    assert proc.returncode == 0, proc.stderr
    shown = orjson.loads(proc.stdout)
    assert shown["changed"] is True and shown["paused"] is False
    assert shown["max_concurrency"] == 3  # the limit was kept

    async def queued_done() -> bool:
        return set(await statuses(app, queued)) == {"success"}

    await eventually(queued_done, 60, "the 100 queued tasks to finish after the resume")
    counts = running_counts(xenv.records(), "limited")
    assert len(counts) == 103 and max(n for _, n in counts) <= 3
    assert (await app.stats())["paused"] == []


async def test_pause_and_resume_from_the_cli(xenv: Env, client: XQueue) -> None:
    """One line each, --json, the paused state in stats and concurrency get; an
    unknown type is one line, exit 2, nothing changed."""
    proc = xenv.cli("pause", "limited", "--app", "xqt_app:app")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("limited: paused; nothing new starts")
    again = xenv.cli("pause", "limited", "--app", "xqt_app:app", "--json")
    assert orjson.loads(again.stdout)["changed"] is False
    stats = orjson.loads(xenv.cli("stats", "--json").stdout)
    assert stats["paused"] == ["limited"]
    table = xenv.cli("concurrency", "get").stdout  # a paused type is listed, announced or not
    assert [line.split()[-1] for line in table.splitlines() if line.startswith("limited")] == [
        "yes"
    ]
    bad = xenv.cli("pause", "nope", "--app", "xqt_app:app")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "no worker has registered task type 'nope'" in bad.stderr
    proc = xenv.cli("resume", "limited")  # a paused type resumes, even unannounced
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("limited: resumed")
    assert orjson.loads(xenv.cli("stats", "--json").stdout)["paused"] == []
