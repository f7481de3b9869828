"""Task records and events between Python and the Redis hashes, streams and scripts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from xqueue_core.models import Task, TaskEvent, TaskStatus

_STATUSES = {str(s): s for s in TaskStatus}


def pairs(flat: Sequence[Any]) -> dict[str, Any]:
    """``[k1, v1, k2, v2, ...]`` (a flat reply: a script's, HGETALL's, a stream
    entry's fields, XINFO's) as a dict."""
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def task_from_hash(data: Mapping[str, Any]) -> Task:
    """Build a Task from its hash fields (internal fields are ignored)."""
    get = data.get
    raw = get("result")
    # one constructor call: this runs for every claimed task
    return Task(
        id=data["id"],
        type=data["type"],
        payload=orjson.loads(data["payload"]),
        priority=int(get("priority") or 0),
        status=_STATUSES[data["status"]],
        retry=int(get("retry") or 0),
        max_retry=int(get("max_retry") or 0),
        queue_timeout=float(get("queue_timeout") or 0.0),
        process_timeout=float(get("process_timeout") or 0.0),
        created_at=float(get("created_at") or 0.0),
        updated_at=float(get("updated_at") or 0.0),
        started_at=_float_or_none(get("started_at")),
        completed_at=_float_or_none(get("completed_at")),
        eta=_float_or_none(get("eta")),
        error=get("error"),
        worker_id=get("worker_id"),
        result=None if raw is None else orjson.loads(raw),
        progress=_float_or_none(get("progress")),
        idempotency_key=get("idempotency_key"),
        redeliveries=int(get("redeliveries") or 0),
        key=get("key"),
        schedule=get("schedule"),
        scheduled_for=_float_or_none(get("scheduled_for")),
        depends_on=None if get("depends_on") is None else orjson.loads(data["depends_on"]),
        on_parent_failure=get("on_parent_failure"),
        workflow=get("workflow"),
        replay_of=get("replay_of"),
        replayed_by=get("replayed_by"),
    )


def task_from_json(text: str | None) -> Task | None:
    """A task as scripts return it (a JSON object of its hash fields); None for none."""
    if not text:
        return None
    return task_from_hash(orjson.loads(text))


def event_from_json(text: str) -> TaskEvent:
    """An event as scripts return it: a JSON array of id, type, status, retry, error,
    progress, worker, timestamp, kind (``false`` for a missing value)."""
    row: list[Any] = [None if v is False else v for v in orjson.loads(text)]
    return TaskEvent(
        task_id=row[0],
        type=row[1],
        status=_STATUSES[row[2]],
        retry=int(row[3] or 0),
        error=row[4],
        progress=None if row[5] is None else float(row[5]),
        worker_id=row[6],
        timestamp=float(row[7]),
        kind=row[8],
    )


def event_from_stream(fields: Mapping[str, Any]) -> TaskEvent:
    """An event as it is kept in the event-log stream."""
    progress = fields.get("progress")
    return TaskEvent(
        task_id=fields["task_id"],
        type=fields["type"],
        status=TaskStatus(fields["status"]),
        retry=int(fields.get("retry") or 0),
        error=fields.get("error"),
        progress=None if progress is None else float(progress),
        worker_id=fields.get("worker_id"),
        timestamp=float(fields["ts"]),
        kind=fields.get("kind", "status"),
    )


def events_from(rows: Sequence[str] | None) -> list[TaskEvent]:
    return [event_from_json(row) for row in rows or ()]


def task_args(task: Task) -> list[str | bool]:
    """What ``create.lua`` reads per task, as text (sent in one JSON argument per call):
    id, type, payload (JSON text), priority, max_retry, queue_timeout, process_timeout,
    eta ('' for none), idempotency key (false for none), flow key (false for none),
    schedule (false for none), scheduled_for ('' for none), depends_on (JSON text, false
    for none), on_parent_failure (false for none), workflow (false for none), replay_of
    (false for none)."""
    key = task.idempotency_key
    return [
        task.id,
        task.type,
        orjson.dumps(task.payload).decode(),
        str(int(task.priority)),
        str(int(task.max_retry)),
        repr(float(task.queue_timeout)),
        repr(float(task.process_timeout)),
        "" if task.eta is None else repr(float(task.eta)),
        False if key is None else key,
        False if task.key is None else task.key,
        False if task.schedule is None else task.schedule,
        "" if task.scheduled_for is None else repr(float(task.scheduled_for)),
        False if task.depends_on is None else orjson.dumps(task.depends_on).decode(),
        False if task.on_parent_failure is None else task.on_parent_failure,
        False if task.workflow is None else task.workflow,
        False if task.replay_of is None else task.replay_of,
    ]


def json_arg(value: Any) -> bytes:
    return orjson.dumps(value)
