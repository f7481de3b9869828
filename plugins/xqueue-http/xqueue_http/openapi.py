"""The OpenAPI 3.1 document of the API, written by hand.

Task types are listed as an ``enum`` of the types this API knows right now (its
app's handlers plus those workers announced), so generated clients and
schema-driven testers send types that are accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xqueue_core.handlers import TYPE_NAME
from xqueue_core.models import TaskStatus
from xqueue_core.validation import MAX_KEY_LENGTH, MAX_RETRY_LIMIT, PRIORITY_RANGE

from .api import LATEST_TIME, MAX_CURSOR_LENGTH, MAX_DELAY, MAX_LIMIT
from .events import THROUGHPUT_SECONDS

STATUSES = [s.value for s in TaskStatus]
OPTIONAL_TYPE = "^(" + TYPE_NAME.pattern.strip("^$") + ")?$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": "Malformed request (body is not JSON)",
    "401": "Missing or invalid bearer token",
    "403": "The token does not allow this",
    "404": "No such task",
    "409": "The task already finished",
    "413": "Body or payload too large",
    "415": "Body is not JSON",
    "422": "A field has an invalid value, or the task type is unknown",
    "503": "A backend is unavailable",
}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _json(_ref("Error"), _ERRORS[code]) for code in codes}


def _op(
    op_id: str,
    summary: str,
    ok: dict[str, Any],
    errors: Sequence[str],
    status: str = "200",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "operationId": op_id,
        "summary": summary,
        "responses": {status: ok, **_errors(*errors)},
        **extra,
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _schemas(task_types: Sequence[str]) -> dict[str, Any]:
    type_name: dict[str, Any] = {"type": "string", "pattern": TYPE_NAME.pattern}
    if task_types:
        type_name = {"type": "string", "enum": sorted(task_types)}
    seconds = {"type": "number", "minimum": 0}
    time = {"type": "string", "format": "date-time"}
    counts = {"type": "object", "additionalProperties": {"type": "integer"}}
    low, high = PRIORITY_RANGE
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        },
        "Task": {
            "type": "object",
            "required": ["id", "type", "payload", "priority", "status", "retry", "max_retry"],
            "properties": {
                "id": {"type": "string"},
                "type": {"type": "string"},
                "payload": {"type": "object"},
                "priority": {"type": "integer"},
                "status": {"type": "string", "enum": STATUSES},
                "retry": {"type": "integer", "minimum": 0},
                "max_retry": {"type": "integer", "minimum": 0},
                "queue_timeout": seconds,
                "process_timeout": seconds,
                "created_at": time,
                "updated_at": time,
                "started_at": _nullable(time),
                "completed_at": _nullable(time),
                "eta": _nullable(time),
                "error": _nullable({"type": "string"}),
                "worker_id": _nullable({"type": "string"}),
                "result": {},
                "progress": _nullable({"type": "number"}),
                "idempotency_key": _nullable({"type": "string"}),
                "redeliveries": {"type": "integer", "minimum": 0},
            },
        },
        "TaskPage": {
            "type": "object",
            "required": ["tasks", "next_cursor"],
            "properties": {
                "tasks": {"type": "array", "items": _ref("Task")},
                "next_cursor": _nullable({"type": "string"}),
            },
        },
        "Submit": {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "not": {"required": ["delay", "eta"]},
            "properties": {
                "type": type_name,
                "payload": _nullable({"type": "object"}),
                "priority": _nullable({"type": "integer", "minimum": low, "maximum": high}),
                "max_retry": _nullable(
                    {"type": "integer", "minimum": 0, "maximum": MAX_RETRY_LIMIT}
                ),
                "queue_timeout": _nullable(seconds),
                "process_timeout": _nullable(seconds),
                "delay": _nullable({"type": "number", "minimum": 0, "maximum": MAX_DELAY}),
                "eta": _nullable(
                    {"type": "number", "minimum": 0, "maximum": LATEST_TIME},
                ),
                "idempotency_key": _nullable(
                    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH}
                ),
            },
            "description": "eta may also be an ISO 8601 time such as 2030-01-31T12:00:00Z.",
        },
        "Batch": {
            "type": "object",
            "required": ["tasks"],
            "additionalProperties": False,
            "properties": {"tasks": {"type": "array", "minItems": 1, "items": _ref("Submit")}},
        },
        "TaskList": {
            "type": "object",
            "required": ["tasks"],
            "properties": {"tasks": {"type": "array", "items": _ref("Task")}},
        },
        "Event": {
            "type": "object",
            "required": ["task_id", "type", "status", "timestamp", "kind"],
            "properties": {
                "task_id": {"type": "string"},
                "type": {"type": "string"},
                "status": {"type": "string", "enum": STATUSES},
                "retry": {"type": "integer"},
                "error": _nullable({"type": "string"}),
                "progress": _nullable({"type": "number"}),
                "worker_id": _nullable({"type": "string"}),
                "timestamp": _nullable(time),
                "kind": {"type": "string"},
                "derived": {"type": "boolean"},
            },
        },
        "History": {
            "type": "object",
            "required": ["task_id", "events"],
            "properties": {
                "task_id": {"type": "string"},
                "events": {"type": "array", "items": _ref("Event")},
            },
        },
        "Stats": {
            "type": "object",
            "required": ["total", "by_status", "by_type", "running", "limits", "broker"],
            "properties": {
                "total": {"type": "integer"},
                "by_status": counts,
                "by_type": counts,
                "running": counts,
                "limits": counts,
                "broker": {"type": "object"},
            },
        },
        "Throughput": {
            "type": "object",
            "required": ["seconds"],
            "properties": {
                "seconds": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["t"],
                        "properties": {"t": {"type": "integer"}},
                        "additionalProperties": {"type": "integer"},
                    },
                }
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "checks"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "unavailable"]},
                "checks": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "Handlers": {
            "type": "object",
            "required": ["handlers"],
            "properties": {
                "handlers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "local", "last_seen"],
                        "properties": {
                            "type": {"type": "string"},
                            "local": {"type": "boolean"},
                            "last_seen": _nullable(time),
                            "executor": {"type": "string", "enum": ["async", "thread", "process"]},
                            "max_retry": {"type": "integer"},
                            "queue_timeout": {"type": "number"},
                            "process_timeout": {"type": "number"},
                            "priority": {"type": "integer"},
                            "source": {"type": "string"},
                        },
                    },
                }
            },
        },
        "Concurrency": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["max_concurrency", "running"],
                "properties": {
                    "max_concurrency": _nullable({"type": "integer", "minimum": 0}),
                    "running": {"type": "integer", "minimum": 0},
                },
            },
        },
        "SetConcurrency": {
            "type": "object",
            "required": ["task_type", "max_concurrency"],
            "additionalProperties": False,
            "properties": {
                "task_type": type_name,
                "max_concurrency": _nullable(
                    {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT}
                ),
            },
        },
        "ConcurrencyOfType": {
            "type": "object",
            "required": ["task_type", "max_concurrency", "running"],
            "properties": {
                "task_type": {"type": "string"},
                "max_concurrency": _nullable({"type": "integer", "minimum": 0}),
                "running": {"type": "integer", "minimum": 0},
            },
        },
    }


def document(task_types: Sequence[str], version: str, server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI document; ``task_types`` become the enum of accepted types."""
    task_id = {
        "name": "task_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 128},
    }
    stream = {
        "description": "text/event-stream of task events (id: cursor, event: kind, data: JSON)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
    after = {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": MAX_CURSOR_LENGTH},
    }
    body = {"required": True, "content": {"application/json": {"schema": None}}}

    def request(name: str) -> dict[str, Any]:
        return {**body, "content": {"application/json": {"schema": _ref(name)}}}

    write = ("400", "401", "403", "413", "415", "422", "503")
    paths: dict[str, Any] = {
        "/api/v1/tasks": {
            "post": _op(
                "submitTask",
                "Submit a task",
                _json(_ref("Task"), "The task (pending); an idempotent repeat returns the first"),
                write,
                status="201",
                requestBody=request("Submit"),
            ),
            "get": _op(
                "listTasks",
                "List tasks, newest first",
                _json(_ref("TaskPage"), "One page; pass next_cursor as cursor for the next"),
                ("401", "403", "422", "503"),
                parameters=[
                    _query(
                        "status", {"type": "string", "enum": ["", *STATUSES]}, "Only this status"
                    ),
                    _query("type", {"type": "string", "pattern": OPTIONAL_TYPE}, "Only this type"),
                    _query(
                        "limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size"
                    ),
                    _query(
                        "cursor",
                        {"type": "string", "pattern": f"^[!-~]{{0,{MAX_CURSOR_LENGTH}}}$"},
                        "next_cursor of the previous page",
                    ),
                ],
            ),
        },
        "/api/v1/tasks/batch": {
            "post": _op(
                "submitTasks",
                "Submit several tasks (all validated before any is stored)",
                _json(_ref("TaskList"), "The tasks, in the order given"),
                write,
                status="201",
                requestBody=request("Batch"),
            )
        },
        "/api/v1/tasks/{task_id}": {
            "parameters": [task_id],
            "get": _op(
                "getTask", "A task", _json(_ref("Task"), "The task"), ("401", "403", "404", "503")
            ),
            "delete": _op(
                "cancelTask",
                "Cancel a task (pending: never runs; running: stopped within a second)",
                _json(_ref("Task"), "The task after the request (canceled, or still processing)"),
                ("401", "403", "404", "409", "503"),
            ),
        },
        "/api/v1/tasks/{task_id}/history": {
            "parameters": [task_id],
            "get": _op(
                "taskHistory",
                "A task's state changes",
                _json(_ref("History"), "Events, oldest first; derived ones come from the record"),
                ("401", "403", "404", "503"),
            ),
        },
        "/api/v1/tasks/{task_id}/events": {
            "parameters": [task_id],
            "get": _op(
                "taskEvents",
                "Server-sent events of one task, ending at its final state",
                stream,
                ("401", "403", "404", "422", "503"),
                parameters=[after],
            ),
        },
        "/api/v1/events": {
            "get": _op(
                "events",
                "Server-sent events of every task",
                stream,
                ("401", "403", "422", "503"),
                parameters=[
                    after,
                    _query("after", {"type": "string"}, "Start after this cursor"),
                    _query("type", {"type": "string"}, "Only this task type"),
                ],
            ),
        },
        "/api/v1/stats": {
            "get": _op(
                "stats",
                "Counts by status and type",
                _json(_ref("Stats"), "Stats"),
                ("401", "403", "503"),
            )
        },
        "/api/v1/throughput": {
            "get": _op(
                "throughput",
                "Finished tasks per second (seen by this API process)",
                _json(_ref("Throughput"), "Per-second counts by final status"),
                ("401", "403", "422"),
                parameters=[
                    _query(
                        "seconds",
                        {"type": "integer", "minimum": 1, "maximum": THROUGHPUT_SECONDS},
                        "How far back",
                    )
                ],
            )
        },
        "/api/v1/health": {
            "get": {
                "operationId": "health",
                "summary": "Checks every backend; 503 when one is down",
                "security": [{}],
                "responses": {
                    "200": _json(_ref("Health"), "All backends answer"),
                    "503": _json(_ref("Health"), "A backend is down"),
                },
            }
        },
        "/api/v1/handlers": {
            "get": _op(
                "handlers",
                "Task types: this API's handlers and those workers announced",
                _json(_ref("Handlers"), "Handlers"),
                ("401", "403", "503"),
            )
        },
        "/api/v1/concurrency": {
            "get": _op(
                "getConcurrency",
                "Per-type limit and tokens in use",
                _json(_ref("Concurrency"), "By task type"),
                ("401", "403", "503"),
            ),
            "post": _op(
                "setConcurrency",
                "Set a type's cluster-wide limit (null: no limit)",
                _json(_ref("ConcurrencyOfType"), "The type's limit now"),
                write,
                requestBody=request("SetConcurrency"),
            ),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "xqueue API",
            "version": version,
            "description": "Submit, follow and control xqueue tasks. Errors are "
            '{"error": {"code", "message"}}.',
        },
        "servers": [{"url": server_url}],
        "security": [{}, {"bearer": []}],
        "components": {
            "schemas": _schemas(task_types),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }
