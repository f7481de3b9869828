"""The OpenAPI 3.1 document of the API, written by hand.

Task types are listed as an ``enum`` of the types this API knows right now (its
app's handlers plus those workers announced), so generated clients and
schema-driven testers send types that are accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xqueue_core.handlers import TYPE_NAME
from xqueue_core.schedules import NAME

from .api import MAX_CURSOR_LENGTH
from .events import THROUGHPUT_SECONDS
from .schemas import STATUSES, ref, schemas

OPTIONAL_TYPE = "^(" + TYPE_NAME.pattern.strip("^$") + ")?$"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": "Malformed request (body is not JSON)",
    "401": "Missing or invalid bearer token",
    "403": "The token does not allow this",
    "404": "No such task, schedule or workflow",
    "409": "The task's state does not allow it (it already finished; not dead, to replay)",
    "413": "Body or payload too large",
    "415": "Body is not JSON",
    "422": "A field has an invalid value, or the task type is unknown",
    "503": "A backend is unavailable",
}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _json(ref("Error"), _ERRORS[code]) for code in codes}


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


def document(task_types: Sequence[str], version: str, server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI document; ``task_types`` become the enum of accepted types."""
    task_id = {
        "name": "task_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 128},
    }
    schedule_name = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": f"^{NAME.pattern}$"},
    }
    workflow_id = {
        "name": "workflow_id",
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
        return {**body, "content": {"application/json": {"schema": ref(name)}}}

    write = ("400", "401", "403", "413", "415", "422", "503")
    type_path = {
        "name": "task_type",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": f"^{TYPE_NAME.pattern}$"},
    }
    # a type that must be registered: one of those known, when any are
    known_type_path = {
        **type_path,
        "schema": {"type": "string", "enum": sorted(task_types)}
        if task_types
        else type_path["schema"],
    }
    replay_one = _op(
        "replayTask",
        "Run a dead task (failed, timeout) again as a new task with the same type, payload "
        "and options",
        _json(ref("Replayed"), "The new task"),
        ("401", "403", "404", "409", "503"),
        status="201",
    )
    replay_one["responses"]["200"] = _json(ref("Replayed"), "Replayed before: that replay")
    paths: dict[str, Any] = {
        "/api/v1/tasks": {
            "post": _op(
                "submitTask",
                "Submit a task",
                _json(ref("Task"), "The task (pending); an idempotent repeat returns the first"),
                write,
                status="201",
                requestBody=request("Submit"),
            ),
            "get": _op(
                "listTasks",
                "List tasks, newest first",
                _json(ref("TaskPage"), "One page; pass next_cursor as cursor for the next"),
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
                _json(ref("TaskList"), "The tasks, in the order given"),
                write,
                status="201",
                requestBody=request("Batch"),
            )
        },
        "/api/v1/tasks/{task_id}": {
            "parameters": [task_id],
            "get": _op(
                "getTask", "A task", _json(ref("Task"), "The task"), ("401", "403", "404", "503")
            ),
            "delete": _op(
                "cancelTask",
                "Cancel a task (pending: never runs; running: stopped within a second)",
                _json(ref("Task"), "The task after the request (canceled, or still processing)"),
                ("401", "403", "404", "409", "503"),
            ),
        },
        "/api/v1/tasks/replay": {
            "post": _op(
                "replayTasks",
                "Replay the dead tasks (failed, timeout) a filter takes, each as a new task "
                "(one per dead task, however often asked); an empty filter needs all: true",
                _json(ref("ReplayReport"), "How many matched and were replayed"),
                write,
                requestBody=request("ReplayFilter"),
            )
        },
        "/api/v1/tasks/{task_id}/replay": {
            "parameters": [task_id],
            "post": replay_one,
        },
        "/api/v1/tasks/{task_id}/history": {
            "parameters": [task_id],
            "get": _op(
                "taskHistory",
                "A task's state changes",
                _json(ref("History"), "Events, oldest first; derived ones come from the record"),
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
                _json(ref("Stats"), "Stats"),
                ("401", "403", "503"),
            )
        },
        "/api/v1/throughput": {
            "get": _op(
                "throughput",
                "Finished tasks per second (seen by this API process)",
                _json(ref("Throughput"), "Per-second counts by final status"),
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
                    "200": _json(ref("Health"), "All backends answer"),
                    "503": _json(ref("Health"), "A backend is down"),
                },
            }
        },
        "/api/v1/handlers": {
            "get": _op(
                "handlers",
                "Task types: this API's handlers and those workers announced",
                _json(ref("Handlers"), "Handlers"),
                ("401", "403", "503"),
            )
        },
        "/api/v1/concurrency": {
            "get": _op(
                "getConcurrency",
                "Per-type limit and tokens in use",
                _json(ref("Concurrency"), "By task type"),
                ("401", "403", "503"),
            ),
            "post": _op(
                "setConcurrency",
                "Set a type's cluster-wide limit (null: no limit); with key, one flow "
                "key's limit; with per_key, the default limit of every key of the type",
                _json(ref("ConcurrencyOfType"), "The type's limits now"),
                write,
                requestBody=request("SetConcurrency"),
            ),
        },
        "/api/v1/schedules": {
            "get": _op(
                "listSchedules",
                "Every periodic schedule, with its next run, last run and last task",
                _json(ref("ScheduleList"), "Schedules by name"),
                ("401", "403", "503"),
            ),
            "post": _op(
                "addSchedule",
                "Add a periodic schedule (cron or every N seconds); refused if the name is "
                "taken or the type unregistered",
                _json(ref("Schedule"), "The schedule"),
                write,
                status="201",
                requestBody=request("NewSchedule"),
            ),
        },
        "/api/v1/schedules/{name}": {
            "parameters": [schedule_name],
            "get": _op(
                "getSchedule",
                "One schedule",
                _json(ref("Schedule"), "The schedule"),
                ("401", "403", "404", "503"),
            ),
            "patch": _op(
                "updateSchedule",
                "Change a schedule (enabled false pauses it; a new timing applies from the "
                "next tick)",
                _json(ref("Schedule"), "The schedule now"),
                (*write, "404"),
                requestBody=request("ScheduleChange"),
            ),
            "delete": _op(
                "deleteSchedule",
                "Remove a schedule (the tasks it fired stay)",
                _json(ref("Deleted"), "Gone"),
                ("401", "403", "404", "503"),
            ),
        },
        "/api/v1/schedules/{name}/run": {
            "parameters": [schedule_name],
            "post": _op(
                "runSchedule",
                "Submit the schedule's task now, outside its ticks",
                _json(ref("Task"), "The task"),
                ("401", "403", "404", "422", "503"),
                status="201",
            ),
        },
        "/api/v1/workflows": {
            "post": _op(
                "createWorkflow",
                "Submit a graph of tasks (nodes by name, edges to each node's parents) in "
                "one atomic step: every member or none; a member waits for its parents",
                _json(ref("Workflow"), "The workflow's id and each member's task id"),
                write,
                status="201",
                requestBody=request("NewWorkflow"),
            ),
        },
        "/api/v1/workflows/{workflow_id}": {
            "parameters": [workflow_id],
            "get": _op(
                "getWorkflow",
                "A workflow's members with their statuses, and its own status",
                _json(ref("WorkflowState"), "The workflow"),
                ("401", "403", "404", "503"),
            ),
            "delete": _op(
                "cancelWorkflow",
                "Cancel every member that has not ended",
                _json(ref("WorkflowState"), "The workflow now"),
                ("401", "403", "404", "503"),
            ),
        },
        "/api/v1/concurrency/weights": {
            "post": _op(
                "setWeight",
                "Let one flow key of a type take `weight` tasks per round-robin turn while "
                "keys wait for slots (null: back to 1)",
                _json(ref("Weight"), "The key's weight now"),
                write,
                requestBody=request("SetWeight"),
            ),
        },
        "/api/v1/workers": {
            "get": _op(
                "listWorkers",
                "Every live worker: host, pid, task types, concurrency, running task ids, "
                "started, last seen, version (gone a lease after its last report)",
                _json(ref("Workers"), "By id"),
                ("401", "403", "503"),
            ),
        },
        "/api/v1/rates": {
            "get": _op(
                "getRates",
                "Per-type rate limits: the type's own, the default of its keys, single keys",
                _json(ref("Rates"), "By task type"),
                ("401", "403", "503"),
            ),
            "post": _op(
                "setRate",
                "Let at most N tasks of a type start per period ('50/s', '10/m', '1/200ms';"
                " null: no rate); with key, one flow key's rate; with per_key, the default"
                " rate of every key of the type",
                _json(ref("RatesOfType"), "The type's rates now"),
                write,
                requestBody=request("SetRate"),
            ),
        },
        **{
            f"/api/v1/concurrency/{{task_type}}/{verb}": {
                "parameters": [known_type_path],
                "post": _op(
                    f"{verb}Type",
                    summary,
                    _json(ref("Paused"), "The type's limits now, and whether it is paused"),
                    ("401", "403", "422", "503"),
                ),
            }
            for verb, summary in (
                (
                    "pause",
                    "Pause a type: nothing new of it starts (on every worker and broker), "
                    "running tasks finish, its limit is kept",
                ),
                ("resume", "Resume a paused type: its tasks start again, as its limits let"),
            )
        },
        "/api/v1/concurrency/{task_type}/keys": {
            "parameters": [
                type_path,
                {
                    "name": "top",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
                },
            ],
            "get": _op(
                "getKeyUsage",
                "The busiest flow keys of a type (?top=N, default 20): running, waiting, limit",
                _json(ref("KeyUsage"), "Keys, busiest first"),
                ("401", "403", "422", "503"),
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
            "schemas": schemas(task_types),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }
