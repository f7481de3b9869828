"""Progress reported just before a handler returns is stored, and its event comes first."""

from __future__ import annotations

from xqueue_core import TaskContext, TaskEvent, XQueue, hookimpl


async def test_last_progress_is_kept_and_ordered(sqlite_url: str, no_plugin_autoload: None) -> None:
    seen: list[TaskEvent] = []

    class Recorder:
        @hookimpl
        def xqueue_task_event(self, event: TaskEvent) -> None:
            seen.append(event)

    app = XQueue(store=sqlite_url, broker=sqlite_url, plugins=[Recorder()])

    @app.task("async")
    async def quick(payload: dict[str, object], ctx: TaskContext) -> str:
        ctx.progress(0.7)
        return "done"

    @app.task("thread")
    def quick_sync(payload: dict[str, object], ctx: TaskContext) -> str:
        ctx.progress(0.4)
        return "done"

    async with app.worker(concurrency=2):
        for task_type, value in (("async", 0.7), ("thread", 0.4)):
            task = await app.submit(task_type, {})
            await app.wait(task.id, timeout=10)
            mine = [(e.kind, str(e.status), e.progress) for e in seen if e.task_id == task.id]
            assert mine == [
                ("status", "pending", None),
                ("status", "processing", None),
                ("progress", "processing", value),
                ("status", "success", 1.0),
            ]
