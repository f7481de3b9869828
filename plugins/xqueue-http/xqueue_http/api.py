"""The REST endpoints under ``/api/v1``: tasks, stats, health, handlers, concurrency.

Each endpoint checks access, reads its input, calls the :class:`XQueue` app
(which validates and does the work) and answers JSON. Input validation of a
submit lives in the core (``check_submit``); only what HTTP adds is checked
here (the body's shape, query strings, sizes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from xqueue_core import XQueue
from xqueue_core.batching import Batcher
from xqueue_core.errors import UserError, ValidationError
from xqueue_core.handlers import TYPE_NAME
from xqueue_core.models import Task, TaskEvent, TaskStatus, iso
from xqueue_core.replay import ReplayFilter
from xqueue_core.validation import check_submit

from .auth import granted, require
from .config import HttpSettings
from .events import THROUGHPUT_SECONDS, EventHub
from .responses import ApiError, FastJSON, json_object, only_fields

API = "/api/v1"
MAX_ID_LENGTH = 128
MAX_CURSOR_LENGTH = 256
CONCURRENCY_FIELDS = frozenset({"task_type", "max_concurrency", "key", "per_key"})
RATE_FIELDS = frozenset({"task_type", "rate", "key", "per_key"})
WEIGHT_FIELDS = frozenset({"task_type", "key", "weight"})
ANNOUNCED_DEFAULTS = ("max_retry", "queue_timeout", "process_timeout", "priority")


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}, got {value}")
    return value


def task_id_of(request: Request) -> str:
    task_id: str = request.path_params["task_id"]
    if not task_id or len(task_id) > MAX_ID_LENGTH:
        raise ApiError(404, "not_found", f"task {task_id[:MAX_ID_LENGTH]!r} not found")
    return task_id


_PRINTABLE = re.compile(r"[\x21-\x7e]+")


def check_cursor(value: str | None, name: str = "cursor") -> str | None:
    if value is None or value == "":
        return None
    if len(value) > MAX_CURSOR_LENGTH or not _PRINTABLE.fullmatch(value):
        raise ValidationError(f"{name} is not a cursor this API handed out")
    return value


def history_of(task: Any, seen: list[TaskEvent]) -> list[dict[str, Any]]:
    """The events this process saw, completed from the record's own timestamps."""
    out = [dict(e.to_dict(), derived=False) for e in seen]
    statuses = {e.status for e in seen if e.kind == "status"}

    def derived(status: TaskStatus, at: float | None, **extra: Any) -> None:
        if at is not None and status not in statuses:
            out.append(
                {
                    "task_id": task.id,
                    "type": task.type,
                    "status": str(status),
                    "timestamp": iso(at),
                    "kind": "status",
                    "derived": True,
                    **extra,
                }
            )

    derived(TaskStatus.PENDING, task.created_at)
    derived(TaskStatus.PROCESSING, task.started_at, worker_id=task.worker_id)
    if task.terminal:
        derived(task.status, task.completed_at, error=task.error)
    out.sort(key=lambda e: e["timestamp"] or "")
    return out


class Api:
    """The endpoints, bound to one app, its HTTP settings and its event hub."""

    def __init__(self, app: XQueue, config: HttpSettings, hub: EventHub) -> None:
        self.app = app
        self.config = config
        self.hub = hub
        # Group commit: single submits that arrive together share store round trips.
        self._submits: Batcher[dict[str, Any], Task | UserError] = Batcher(self._submit_group)

    async def _submit_group(self, items: Sequence[dict[str, Any]]) -> list[Task | UserError]:
        try:
            return list(await self.app.submit_many(items))
        except UserError:
            if len(items) == 1:
                raise
        # One of them is refused (an unknown type): each answer gets its own outcome.
        out: list[Task | UserError] = []
        for item in items:
            try:
                out.append((await self.app.submit_many([item]))[0])
            except UserError as exc:
                out.append(exc)
        return out

    async def _object(self, request: Request) -> dict[str, Any]:
        return await json_object(request, self.config.max_body_bytes)

    # -- tasks ---------------------------------------------------------------------

    async def submit(self, request: Request) -> Response:
        require(self.config, request, "admin")
        body = await self._object(request)
        check_submit(body, self.app.settings.max_payload_bytes)  # refuse bad input alone
        task = await self._submits.submit(body)
        if isinstance(task, UserError):
            raise task
        return FastJSON(task.to_dict(), 201, headers={"Location": f"{API}/tasks/{task.id}"})

    async def submit_batch(self, request: Request) -> Response:
        require(self.config, request, "admin")
        body = await self._object(request)
        extra = set(body) - {"tasks"}
        if extra:
            raise ValidationError(f"unknown field(s) {', '.join(sorted(extra))}; allowed: tasks")
        items = body.get("tasks")
        if not isinstance(items, list) or not items:
            raise ValidationError("field 'tasks' must be a non-empty list of task objects")
        if len(items) > self.config.max_batch:
            raise ValidationError(
                f"a batch holds at most {self.config.max_batch} tasks, got {len(items)}"
            )
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValidationError(f"task {index}: must be a JSON object")
        tasks = await self.app.submit_many(items)
        return FastJSON({"tasks": [t.to_dict() for t in tasks]}, 201)

    async def list_tasks(self, request: Request) -> Response:
        require(self.config, request, "read")
        params = request.query_params
        limit = query_int(request, "limit", 50, 1, self.config.max_page_size)
        task_type = params.get("type") or None
        if task_type is not None and not TYPE_NAME.fullmatch(task_type):
            raise ValidationError(f"type {task_type!r} is not a valid task type name")
        page = await self.app.list(
            status=params.get("status") or None,
            type=task_type,
            limit=limit,
            cursor=check_cursor(params.get("cursor")),
        )
        return FastJSON(
            {"tasks": [t.to_dict() for t in page.tasks], "next_cursor": page.next_cursor}
        )

    async def get_task(self, request: Request) -> Response:
        require(self.config, request, "read")
        task = await self.app.get(task_id_of(request))
        return FastJSON(task.to_dict())

    async def cancel_task(self, request: Request) -> Response:
        require(self.config, request, "admin")
        task = await self.app.cancel(task_id_of(request))
        return FastJSON(task.to_dict())

    async def task_history(self, request: Request) -> Response:
        require(self.config, request, "read")
        task = await self.app.get(task_id_of(request))
        await self.hub.caught_up(task.id, task.updated_at, 1.0)
        events = history_of(task, self.hub.history(task.id))
        return FastJSON({"task_id": task.id, "events": events})

    # -- the queue -------------------------------------------------------------------

    async def stats(self, request: Request) -> Response:
        require(self.config, request, "read")
        return FastJSON(await self.app.stats())

    async def throughput(self, request: Request) -> Response:
        require(self.config, request, "read")
        seconds = query_int(request, "seconds", 300, 1, THROUGHPUT_SECONDS)
        return FastJSON({"seconds": self.hub.throughput(seconds)})

    async def health(self, request: Request) -> Response:
        try:
            detailed = not self.config.read_token or granted(self.config, request) is not None
        except ApiError:
            detailed = False
        checks = await self.app.health()
        healthy = all(v == "ok" for v in checks.values())
        if not detailed:
            checks = {k: "ok" if v == "ok" else "error" for k, v in checks.items()}
        return FastJSON(
            {"status": "ok" if healthy else "unavailable", "checks": checks},
            200 if healthy else 503,
        )

    async def handlers(self, request: Request) -> Response:
        require(self.config, request, "read")
        store = self.app.store
        announced = {t.name: t for t in await store.known_types()} if store else {}
        out: list[dict[str, Any]] = []
        local = self.app.handlers
        for name in sorted(set(local) | set(announced)):
            spec, info = local.get(name), announced.get(name)
            entry: dict[str, Any] = {
                "type": name,
                "local": spec is not None,
                "last_seen": iso(info.last_seen) if info else None,
            }
            if spec is not None:
                entry.update(
                    executor=spec.executor,
                    max_retry=spec.max_retry,
                    queue_timeout=spec.queue_timeout,
                    process_timeout=spec.process_timeout,
                    priority=spec.priority,
                    source=spec.source,
                )
            elif info is not None:  # the defaults its workers announced
                entry.update({k: v for k, v in info.defaults.items() if k in ANNOUNCED_DEFAULTS})
            out.append(entry)
        return FastJSON({"handlers": out})

    async def get_concurrency(self, request: Request) -> Response:
        require(self.config, request, "read")
        return FastJSON(await self.app.get_concurrency())

    async def _limit_change(
        self, request: Request, allowed: frozenset[str], value: str, absent: str
    ) -> tuple[str, Any, Any, bool]:
        """A POST that changes a type's limit or rate: (type, value, key, per_key)."""
        require(self.config, request, "admin")
        body = await self._object(request)
        only_fields(body, allowed)
        if "task_type" not in body:
            raise ValidationError("field 'task_type' is required")
        if value not in body:
            raise ValidationError(f"field {value!r} is required (null: {absent})")
        per_key = body.get("per_key", False)
        if not isinstance(per_key, bool):
            raise ValidationError(f"per_key must be true or false, got {per_key!r}")
        return body["task_type"], body[value], body.get("key"), per_key

    async def set_concurrency(self, request: Request) -> Response:
        task_type, limit, key, per_key = await self._limit_change(
            request, CONCURRENCY_FIELDS, "max_concurrency", "no limit"
        )
        await self.app.set_concurrency(task_type, limit, key=key, per_key=per_key)
        current = (await self.app.get_concurrency()).get(task_type, {})
        return FastJSON(
            {
                "task_type": task_type,
                "max_concurrency": current.get("max_concurrency"),
                "running": current.get("running", 0),
                "per_key": current.get("per_key"),
                "keys": current.get("keys", {}),
                "weights": current.get("weights", {}),
                "paused": current.get("paused", False),
            }
        )

    async def set_weight(self, request: Request) -> Response:
        require(self.config, request, "admin")
        body = await self._object(request)
        only_fields(body, WEIGHT_FIELDS)
        for field in sorted(WEIGHT_FIELDS):
            if field not in body:
                raise ValidationError(f"field {field!r} is required (weight null: back to 1)")
        task_type, key = body["task_type"], body["key"]
        await self.app.set_key_weight(task_type, key, body["weight"])
        weights = (await self.app.get_concurrency()).get(task_type, {}).get("weights", {})
        return FastJSON({"task_type": task_type, "key": key, "weight": weights.get(key, 1)})

    async def get_rates(self, request: Request) -> Response:
        require(self.config, request, "read")
        return FastJSON(await self.app.get_rates())

    async def set_rate(self, request: Request) -> Response:
        task_type, rate, key, per_key = await self._limit_change(
            request, RATE_FIELDS, "rate", "no rate"
        )
        if rate is not None and not isinstance(rate, str):
            raise ValidationError(f"rate must be text like '50/s' or null, got {rate!r}")
        await self.app.set_rate(task_type, rate, key=key, per_key=per_key)
        current = (await self.app.get_rates()).get(task_type, {})
        return FastJSON({"task_type": task_type, **current})

    async def replay_task(self, request: Request) -> Response:
        require(self.config, request, "admin")
        task_id = request.path_params["task_id"]
        task, made = await self.app.replay(task_id)
        body = {"replay_of": task_id, "created": made, "task": task.to_dict()}
        return FastJSON(body, 201 if made else 200, headers={"Location": f"{API}/tasks/{task.id}"})

    async def replay_tasks(self, request: Request) -> Response:
        require(self.config, request, "admin")
        body = await self._object(request)
        dry_run = body.pop("dry_run", False)
        if not isinstance(dry_run, bool):
            raise ValidationError(f"dry_run must be true or false, got {dry_run!r}")
        report = await self.app.replay_many(ReplayFilter.check(body), dry_run)
        return FastJSON(report.to_dict())

    async def workers(self, request: Request) -> Response:
        require(self.config, request, "read")
        return FastJSON({"workers": [w.to_dict() for w in await self.app.workers()]})

    async def pause_type(self, request: Request) -> Response:
        return await self._pause(request, True)

    async def resume_type(self, request: Request) -> Response:
        return await self._pause(request, False)

    async def _pause(self, request: Request, paused: bool) -> Response:
        require(self.config, request, "admin")
        task_type = request.path_params["task_type"]
        switch = self.app.pause if paused else self.app.resume
        changed = await switch(task_type)
        state = (await self.app.get_concurrency()).get(task_type, {})
        return FastJSON({"task_type": task_type, "changed": changed, **state, "paused": paused})

    async def get_key_usage(self, request: Request) -> Response:
        require(self.config, request, "read")
        task_type = request.path_params["task_type"]
        raw = request.query_params.get("top", "20")
        try:
            top = int(raw)
        except ValueError:
            raise ValidationError(f"top must be a whole number, got {raw!r}") from None
        usage = await self.app.key_usage(task_type, top)
        keys = [
            {"key": u.key, "running": u.running, "waiting": u.waiting, "limit": u.limit}
            for u in usage
        ]
        return FastJSON({"task_type": task_type, "keys": keys})
