"""A submitter without the handler (CLI, API) applies the defaults its workers announced."""

from __future__ import annotations

from xqueue_core import XQueue


async def test_submit_without_handler_takes_announced_defaults(
    sqlite_url: str, no_plugin_autoload: None
) -> None:
    worker_app = XQueue(store=sqlite_url, broker=sqlite_url)

    @worker_app.task("report", max_retry=4, process_timeout=30, queue_timeout=600, priority=3)
    async def report(payload: dict[str, object]) -> None:
        return None

    client = XQueue(store=sqlite_url, broker=sqlite_url)
    async with worker_app.worker(concurrency=1), client:
        task = await client.submit("report", {})
        assert (task.max_retry, task.process_timeout, task.queue_timeout, task.priority) == (
            4,
            30.0,
            600.0,
            3,
        )
        explicit = await client.submit("report", {}, max_retry=0, priority=-1)
        assert (explicit.max_retry, explicit.priority) == (0, -1)
        types = {t.name: t.defaults for t in await client.store.known_types()}  # type: ignore[union-attr]
        assert types["report"]["max_retry"] == 4
