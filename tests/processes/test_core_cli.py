"""The CLI's machine-readable output and exit codes, against a running worker."""

from __future__ import annotations

import dataclasses

import orjson

from tests.processes.core_helpers import Env
from xqueue_core import Task, XQueue
from xqueue_core.testing.services import eventually

TASK_KEYS = {f.name for f in dataclasses.fields(Task)}


def run_json(xenv: Env, *args: str, code: int = 0) -> object:
    proc = xenv.cli(*args, "--json")
    assert proc.returncode == code, proc.stderr
    return orjson.loads(proc.stdout)


async def test_json_output_of_every_command(xenv: Env, client: XQueue) -> None:
    xenv.worker("--concurrency", "2").wait_started()
    done = run_json(xenv, "submit", "sleep", '{"seconds": 0}', "--priority", "3", "--wait")
    assert isinstance(done, dict) and set(done) == TASK_KEYS
    assert (done["status"], done["priority"], done["result"]) == ("success", 3, {"slept": 0})
    assert done["completed_at"].endswith("Z")

    shown = run_json(xenv, "status", done["id"])
    assert shown == done

    failed = run_json(xenv, "submit", "flaky", "{}", "--wait", code=1)
    assert isinstance(failed, dict)
    assert failed["status"] == "failed"
    assert failed["error"] == "RuntimeError: attempt 1 fails on purpose"
    assert run_json(xenv, "status", failed["id"], "--wait", code=1) == failed

    pending = run_json(xenv, "submit", "sleep", "{}", "--delay", "60")
    assert isinstance(pending, dict) and pending["status"] == "pending"
    canceled = run_json(xenv, "cancel", pending["id"])
    assert isinstance(canceled, dict) and set(canceled) == TASK_KEYS
    assert canceled["status"] == "canceled"

    page = run_json(xenv, "list", "--limit", "2")
    assert isinstance(page, dict) and set(page) == {"tasks", "next_cursor"}
    assert [t["id"] for t in page["tasks"]] == [pending["id"], failed["id"]]
    assert page["next_cursor"] == failed["id"]
    rest = run_json(xenv, "list", "--cursor", page["next_cursor"])
    assert isinstance(rest, dict) and [t["id"] for t in rest["tasks"]] == [done["id"]]
    assert rest["next_cursor"] is None
    only = run_json(xenv, "list", "--status", "failed", "--type", "flaky")
    assert isinstance(only, dict) and [t["id"] for t in only["tasks"]] == [failed["id"]]

    stats = run_json(xenv, "stats")
    assert isinstance(stats, dict)
    assert set(stats) == {"total", "by_status", "by_type", "running", "limits", "paused", "broker"}
    assert stats["total"] == 3
    assert stats["by_status"] == {
        "waiting": 0,
        "pending": 0,
        "processing": 0,
        "success": 1,
        "failed": 1,
        "timeout": 0,
        "canceled": 1,
    }
    assert stats["by_type"] == {"sleep": 2, "flaky": 1}

    no_keys = {"per_key": None, "keys": {}, "weights": {}, "paused": False}
    assert run_json(xenv, "concurrency", "set", "sleep", "4") == {
        "task_type": "sleep",
        "max_concurrency": 4,
        "running": 0,
        **no_keys,
    }
    limits = run_json(xenv, "concurrency", "get")
    assert isinstance(limits, dict)
    assert limits["sleep"] == {"max_concurrency": 4, "running": 0, **no_keys}
    assert limits["flaky"] == {"max_concurrency": None, "running": 0, **no_keys}
    weight = run_json(xenv, "concurrency", "weight", "sleep", "vip", "3")
    assert weight == {"task_type": "sleep", "key": "vip", "weight": 3}
    assert run_json(xenv, "concurrency", "weight", "sleep", "vip", "none")["weight"] == 1  # type: ignore[index]
    rate = run_json(xenv, "rate", "set", "sleep", "50/s")
    assert rate == {"task_type": "sleep", "rate": "50/s", "per_key": None, "keys": {}}
    rates = run_json(xenv, "rate", "get")
    assert isinstance(rates, dict) and rates["sleep"]["rate"] == "50/s"
    assert rates["flaky"] == {"rate": None, "per_key": None, "keys": {}}
    run_json(xenv, "rate", "set", "sleep", "none")
    keyed = run_json(xenv, "concurrency", "set", "sleep", "2", "--per-key")
    assert isinstance(keyed, dict) and keyed["per_key"] == 2
    assert run_json(xenv, "concurrency", "get", "--keys", "sleep") == []
    run_json(xenv, "concurrency", "set", "sleep", "none", "--per-key")
    unset = run_json(xenv, "concurrency", "set", "sleep", "none")
    assert isinstance(unset, dict) and unset["max_concurrency"] is None

    plugins = run_json(xenv, "plugins")
    assert isinstance(plugins, list)
    assert [p["name"] for p in plugins] == ["sqlite"]  # XQUEUE_LOAD_PLUGINS is empty
    assert plugins[0]["schemes"] == {"store": ["sqlite"], "broker": ["sqlite"]}
    assert set(plugins[0]) == {"name", "module", "distribution", "version", "hooks", "schemes"}


async def test_human_output_and_wait_timeout(xenv: Env, client: XQueue) -> None:
    xenv.worker().wait_started()
    proc = xenv.cli("submit", "sleep", '{"seconds": 30}')
    assert proc.returncode == 0, proc.stderr
    task_id = proc.stdout.strip()
    assert len(task_id) == 26  # just the id, for scripts
    await eventually(lambda: xenv.records("start"), 20, "the task to start")
    waited = xenv.cli("status", task_id, "--wait", "--timeout", "0.2")
    assert waited.returncode == 2
    assert waited.stderr.strip().splitlines()[-1] == (
        f"error: task {task_id} is still processing after 0.2s"
    )
    shown = xenv.cli("status", task_id)
    assert shown.returncode == 0
    assert "status: processing" in shown.stdout
    listing = xenv.cli("list")
    assert listing.stdout.splitlines()[0].split() == [
        "ID",
        "TYPE",
        "STATUS",
        "RETRY",
        "PRIORITY",
        "CREATED",
        "ERROR",
    ]
    assert task_id in listing.stdout


async def test_worker_types_option_runs_only_those_types(xenv: Env, client: XQueue) -> None:
    xenv.worker("--types", "other").wait_started()
    skipped = await client.submit("sleep", {})
    ran = await client.submit("other", {})

    async def other_done() -> bool:
        return (await client.get(ran.id)).terminal

    await eventually(other_done, 20, "the 'other' task to run")
    assert [r["type"] for r in xenv.records("start")] == ["other"]
    assert (await client.get(skipped.id)).status == "pending"
    # a worker for the skipped type picks it up
    xenv.worker("--types", "sleep").wait_started()

    async def skipped_done() -> bool:
        return (await client.get(skipped.id)).terminal

    await eventually(skipped_done, 20, "the 'sleep' task to run")
    assert (await client.get(skipped.id)).status == "success"
