"""Server-sent event streams of task events: every task, or one task.

Each message carries the store's cursor as its ``id``, so a client that
reconnects with ``Last-Event-ID`` (browsers do it by themselves) resumes where
it left off. The event name is the event's kind (``status`` or ``progress``;
``task`` for the snapshot that starts a one-task stream) and the data is the
event JSON (DESIGN §5). A one-task stream ends after the task's final state.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from xqueue_core.errors import ValidationError
from xqueue_core.logs import get_logger
from xqueue_core.models import TaskEvent

from .api import check_cursor, task_id_of
from .auth import require
from .config import HttpSettings
from .events import Batches, EventHub

log = get_logger("xqueue.http")

STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: pass each message on at once
}
RETRY_MS = 1000


def message(data: Any, event: str, cursor: str | None = None) -> bytes:
    """One SSE message (``id``/``event``/``data`` lines and a blank line)."""
    head = f"id: {cursor}\n" if cursor is not None else ""
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


class Streams:
    """The two event-stream endpoints, fed by one :class:`EventHub`."""

    def __init__(self, config: HttpSettings, hub: EventHub) -> None:
        self.config = config
        self.hub = hub

    def _after(self, request: Request) -> str | None:
        header = request.headers.get("last-event-id")
        if header:
            return check_cursor(header, "Last-Event-ID")
        return check_cursor(request.query_params.get("after"), "after")

    async def _validate(self, after: str | None) -> None:
        store = self.hub.app.store
        if after is None or store is None:
            return
        try:
            await store.read_events(after, 1, 0)
        except (ValueError, TypeError):
            raise ValidationError(
                "Last-Event-ID/after is not a cursor this API handed out"
            ) from None

    def _response(self, body: AsyncIterator[bytes]) -> Response:
        return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)

    def _pump(
        self,
        batches: Batches,
        first: list[bytes],
        keep: Callable[[TaskEvent], bool],
        last: Callable[[TaskEvent], bool] | None = None,
    ) -> AsyncIterator[bytes]:
        async def run() -> AsyncIterator[bytes]:
            yield f"retry: {RETRY_MS}\n\n".encode()
            for item in first:
                yield item
            try:
                async for batch in batches:
                    if not batch:
                        yield b": keepalive\n\n"
                        continue
                    out = [message(e.to_dict(), e.kind, c) for c, e in batch if keep(e)]
                    if out:
                        yield b"".join(out)
                    if last is not None and any(last(e) for _, e in batch if keep(e)):
                        return
            except Exception as exc:  # the stream is already open: end it, log why
                log.warning("event stream ended by an error", error=str(exc))
            finally:
                with contextlib.suppress(Exception):
                    await batches.aclose()

        return run()

    async def all_events(self, request: Request) -> Response:
        """Every task's events; ``?type=`` keeps one task type."""
        require(self.config, request, "read")
        after = self._after(request)
        await self._validate(after)
        task_type = request.query_params.get("type") or None
        if task_type is None:
            keep: Callable[[TaskEvent], bool] = lambda e: e.kind != "purged"  # noqa: E731
        else:
            keep = lambda e: e.type == task_type and e.kind != "purged"  # noqa: E731
        batches = self.hub.subscribe(after, self.config.sse_keepalive)
        return self._response(self._pump(batches, [], keep))

    async def task_events(self, request: Request) -> Response:
        """One task: a ``task`` snapshot, then its events until its final state.

        A finished task gets its snapshot and the stream ends; asked again with
        ``Last-Event-ID`` (an EventSource reconnecting) it answers 204, which
        tells a browser to stop reconnecting.
        """
        require(self.config, request, "read")
        task_id = task_id_of(request)
        after = self._after(request)
        await self._validate(after)
        # Subscribe before reading the snapshot, so no change falls in between.
        batches = self.hub.subscribe(after, self.config.sse_keepalive)
        task = await self.hub.app.get(task_id)
        if task.terminal:
            await batches.aclose()
            if after is not None:
                return Response(status_code=204)
            return self._response(_only([message(task.to_dict(), "task")]))
        first = [] if after is not None else [message(task.to_dict(), "task")]

        def keep(event: TaskEvent) -> bool:
            return event.task_id == task_id

        def last(event: TaskEvent) -> bool:
            return event.kind == "status" and event.status.terminal

        return self._response(self._pump(batches, first, keep, last))


async def _only(items: list[bytes]) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    for item in items:
        yield item
