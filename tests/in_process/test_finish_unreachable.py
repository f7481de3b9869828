"""A run whose outcome cannot be recorded (store down past its retries) is logged and
runs again after its lease; the worker goes on."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
import structlog

import xqueue_core.worker
from xqueue_core import XQueue


async def test_an_unrecordable_outcome_is_a_warning_and_the_task_runs_again(
    sqlite_url: str, no_plugin_autoload: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = XQueue(store=sqlite_url, broker=sqlite_url, lease_ttl=1.0, heartbeat_interval=0.2)
    runs: list[str] = []

    @app.task("job")
    async def job(payload: dict[str, Any]) -> str:
        runs.append(payload["n"])
        return "done"

    loop_errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    with structlog.testing.capture_logs() as logs:
        # a fresh proxy: the module's may have cached its logger in an earlier test
        monkeypatch.setattr(xqueue_core.worker, "log", structlog.get_logger("xqueue.worker"))
        async with app.worker(concurrency=2):
            _, store = app.backends()
            real_finish = store.finish
            failures: list[int] = []

            async def finish_down_once(finishes: Any) -> Any:
                if not failures:
                    failures.append(1)
                    raise OSError("Connection refused")
                return await real_finish(finishes)

            store.finish = finish_down_once  # type: ignore[method-assign]
            first = await app.submit("job", {"n": "first"})
            done = await app.wait(first.id, timeout=30)
            assert str(done.status) == "success"
            second = await app.submit("job", {"n": "second"})
            assert str((await app.wait(second.id, timeout=30)).status) == "success"
    assert runs == ["first", "first", "second"]  # the unrecorded run ran again
    warned = [e for e in logs if e["event"].startswith("outcome not recorded: the store")]
    assert len(warned) == 1 and warned[0]["error"] == "Connection refused", logs
    assert warned[0]["task_id"] == first.id
    gc.collect()  # an unretrieved task exception is reported when the task is collected
    assert loop_errors == []
