"""The component schemas of the OpenAPI document: the JSON objects the API reads and writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xqueue_core.debounce import MAX_WINDOW
from xqueue_core.flow import MAX_KEY_LENGTH as MAX_FLOW_KEY
from xqueue_core.flow import MAX_WEIGHT
from xqueue_core.handlers import TYPE_NAME
from xqueue_core.models import TaskStatus
from xqueue_core.rates import RATE_PATTERN
from xqueue_core.replay import MAX_IDS, MAX_REPLAY
from xqueue_core.schedules import CATCH_UP, MAX_EVERY, MAX_JITTER, MIN_EVERY, OVERLAP
from xqueue_core.schedules import NAME as SCHEDULE_NAME
from xqueue_core.validation import (
    MAX_DELAY,
    MAX_KEY_LENGTH,
    MAX_LIMIT,
    MAX_RETRY_LIMIT,
    PRIORITY_RANGE,
)
from xqueue_core.validation import MAX_ETA as LATEST_TIME
from xqueue_core.workflows import MAX_ID_LENGTH, MAX_NODES

STATUSES = [s.value for s in TaskStatus]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def given(field: str, then: dict[str, Any], kind: str = "number") -> dict[str, Any]:
    """``then`` applies when ``field`` is there as a ``kind`` (not absent, not null)."""
    return {
        "if": {"required": [field], "properties": {field: {"type": kind}}},
        "then": then,
    }


def schemas(task_types: Sequence[str]) -> dict[str, Any]:
    """Every schema; ``task_types`` (when known) are the enum of the ``type`` field."""
    type_name: dict[str, Any] = {"type": "string", "pattern": TYPE_NAME.pattern}
    if task_types:
        type_name = {"type": "string", "enum": sorted(task_types)}
    seconds = {"type": "number", "minimum": 0}
    window = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_WINDOW}
    flow_key = {"type": "string", "minLength": 1, "maxLength": MAX_FLOW_KEY, "not": {"const": "*"}}
    count = {"type": "integer", "minimum": 0}
    # a type's limits, as GET /concurrency shows them and POST /concurrency answers
    # an ISO 8601 time or epoch seconds (ended at or after since, at or before until)
    when = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "number", "minimum": 0}]}
    limits = {
        "max_concurrency": nullable(count),
        "running": count,
        "per_key": nullable(count),
        "keys": {"type": "object", "additionalProperties": count},
        "weights": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}},
        "paused": {"type": "boolean"},
    }
    # a type's rates, as GET /rates shows them and POST /rates answers
    rate_text = {"type": "string", "pattern": RATE_PATTERN, "examples": ["50/s", "10/m"]}
    rates = {
        "rate": nullable(rate_text),
        "per_key": nullable(rate_text),
        "keys": {"type": "object", "additionalProperties": rate_text},
    }
    time = {"type": "string", "format": "date-time"}
    # what a schedule may be given (POST, PATCH) and shows (GET)
    schedule_fields: dict[str, Any] = {
        "payload": nullable({"type": "object"}),
        "cron": nullable({"type": "string", "minLength": 9}),
        "every": nullable({"type": "number", "minimum": MIN_EVERY, "maximum": MAX_EVERY}),
        "tz": nullable({"type": "string", "examples": ["UTC", "Europe/Berlin"]}),
        "catch_up": nullable({"type": "string", "enum": list(CATCH_UP)}),
        "overlap": nullable({"type": "string", "enum": list(OVERLAP)}),
        "jitter": nullable({"type": "number", "minimum": 0, "maximum": MAX_JITTER}),
        "enabled": {"type": "boolean"},
        "options": nullable({"type": "object"}),
    }
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
                "started_at": nullable(time),
                "completed_at": nullable(time),
                "eta": nullable(time),
                "error": nullable({"type": "string"}),
                "worker_id": nullable({"type": "string"}),
                "result": {},
                "progress": nullable({"type": "number"}),
                "idempotency_key": nullable({"type": "string"}),
                "redeliveries": {"type": "integer", "minimum": 0},
                "key": nullable({"type": "string"}),
                "schedule": nullable({"type": "string"}),
                "scheduled_for": nullable(time),
                "depends_on": nullable({"type": "array", "items": {"type": "string"}}),
                "on_parent_failure": nullable({"type": "string", "enum": ["cancel", "run"]}),
                "workflow": nullable({"type": "string"}),
                "replay_of": nullable({"type": "string"}),
                "replayed_by": nullable({"type": "string"}),
            },
        },
        "TaskPage": {
            "type": "object",
            "required": ["tasks", "next_cursor"],
            "properties": {
                "tasks": {"type": "array", "items": ref("Task")},
                "next_cursor": nullable({"type": "string"}),
            },
        },
        "Submit": {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "allOf": [
                {"not": {"required": ["delay", "eta"]}},
                # debounce needs the task's flow key (key here; a handler's key payload
                # field gives one too, which this schema cannot see) and is its own delay
                given(
                    "debounce",
                    then={
                        "required": ["key"],
                        "properties": {
                            "key": {"type": "string"},
                            **{
                                f: {"type": "null"}
                                for f in ("delay", "eta", "idempotency_key", "depends_on")
                            },
                        },
                    },
                ),
                given(
                    "debounce_max",
                    then={"required": ["debounce"], "properties": {"debounce": {"type": "number"}}},
                ),
                given(
                    "on_parent_failure",
                    then={
                        "required": ["depends_on"],
                        "properties": {"depends_on": {"type": "array"}},
                    },
                    kind="string",
                ),
            ],
            "properties": {
                "type": type_name,
                "payload": nullable({"type": "object"}),
                "priority": nullable({"type": "integer", "minimum": low, "maximum": high}),
                "max_retry": nullable(
                    {"type": "integer", "minimum": 0, "maximum": MAX_RETRY_LIMIT}
                ),
                "queue_timeout": nullable(seconds),
                "process_timeout": nullable(seconds),
                "delay": nullable({"type": "number", "minimum": 0, "maximum": MAX_DELAY}),
                "eta": nullable(
                    {"type": "number", "minimum": 0, "maximum": LATEST_TIME},
                ),
                "idempotency_key": nullable(
                    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH}
                ),
                "key": nullable(flow_key),
                "debounce": nullable(window),
                "debounce_max": nullable(window),
                "depends_on": nullable(
                    {
                        "type": "array",
                        "minItems": 1,  # at most MAX_PARENTS (the core says so), if the body fits
                        "items": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
                    }
                ),
                "on_parent_failure": nullable({"type": "string", "enum": ["cancel", "run"]}),
            },
            "description": (
                "eta may also be an ISO 8601 time such as 2030-01-31T12:00:00Z. debounce "
                "(seconds) collapses submits of the type and flow key within it into one "
                "waiting task, the last payload winning; debounce_max caps how long after "
                "the first submit it starts. debounce needs the flow key (key, or the "
                "handler's key field). depends_on (ids of tasks in this store) makes the "
                "task wait until they all ended; on_parent_failure (cancel, the default, "
                "or run) says what a parent that did not succeed does to it."
            ),
        },
        "Batch": {
            "type": "object",
            "required": ["tasks"],
            "additionalProperties": False,
            "properties": {"tasks": {"type": "array", "minItems": 1, "items": ref("Submit")}},
        },
        "TaskList": {
            "type": "object",
            "required": ["tasks"],
            "properties": {"tasks": {"type": "array", "items": ref("Task")}},
        },
        "Event": {
            "type": "object",
            "required": ["task_id", "type", "status", "timestamp", "kind"],
            "properties": {
                "task_id": {"type": "string"},
                "type": {"type": "string"},
                "status": {"type": "string", "enum": STATUSES},
                "retry": {"type": "integer"},
                "error": nullable({"type": "string"}),
                "progress": nullable({"type": "number"}),
                "worker_id": nullable({"type": "string"}),
                "timestamp": nullable(time),
                "kind": {"type": "string"},
                "derived": {"type": "boolean"},
            },
        },
        "History": {
            "type": "object",
            "required": ["task_id", "events"],
            "properties": {
                "task_id": {"type": "string"},
                "events": {"type": "array", "items": ref("Event")},
            },
        },
        "Stats": {
            "type": "object",
            "required": ["total", "by_status", "by_type", "running", "limits", "paused", "broker"],
            "properties": {
                "total": {"type": "integer"},
                "by_status": counts,
                "by_type": counts,
                "running": counts,
                "limits": counts,
                "paused": {"type": "array", "items": {"type": "string"}},
                "broker": {"type": "object"},
            },
        },
        "ReplayFilter": {
            "type": "object",
            "additionalProperties": False,
            # a filter, or all: true (an empty one would replay every dead task)
            "anyOf": [
                *(
                    {"required": [f], "properties": {f: {"not": {"type": "null"}}}}
                    for f in ("type", "status", "error_contains", "since", "until", "limit")
                ),
                {"required": ["all"], "properties": {"all": {"const": True}}},
                {"required": ["task_ids"], "properties": {"task_ids": {"type": "array"}}},
            ],
            # task_ids names exactly the tasks: no filter beside it
            "if": {"required": ["task_ids"], "properties": {"task_ids": {"type": "array"}}},
            "then": {
                "properties": {
                    **{
                        f: {"type": "null"}
                        for f in ("type", "status", "error_contains", "since", "until", "limit")
                    },
                    "all": {"const": False},
                }
            },
            "properties": {
                "task_ids": nullable(
                    {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_IDS,
                        "items": {"type": "string", "minLength": 1},
                        "description": "exactly these (those dead and not replayed); "
                        "not with a filter",
                    }
                ),
                "type": nullable(type_name),
                "status": nullable({"type": "string", "enum": ["failed", "timeout"]}),
                "error_contains": nullable({"type": "string", "minLength": 1}),
                "since": nullable(when),
                "until": nullable(when),
                "limit": nullable({"type": "integer", "minimum": 1, "maximum": MAX_REPLAY}),
                "all": {"type": "boolean", "description": "needed for an empty filter"},
                "dry_run": {"type": "boolean", "description": "only count the matches"},
            },
        },
        "ReplayReport": {
            "type": "object",
            "required": ["matched", "replayed", "dry_run", "tasks"],
            "properties": {
                "matched": {"type": "integer", "minimum": 0},
                "replayed": {"type": "integer", "minimum": 0},
                "dry_run": {"type": "boolean"},
                "tasks": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "dead task id -> its replay's id",
                },
            },
        },
        "Replayed": {
            "type": "object",
            "required": ["replay_of", "created", "task"],
            "properties": {
                "replay_of": {"type": "string"},
                "created": {"type": "boolean", "description": "false: replayed before"},
                "task": ref("Task"),
            },
        },
        "Workers": {
            "type": "object",
            "required": ["workers"],
            "properties": {
                "workers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": [
                            "id",
                            "host",
                            "pid",
                            "types",
                            "concurrency",
                            "running",
                            "version",
                            "started_at",
                            "last_seen",
                            "expires_at",
                        ],
                        "properties": {
                            "id": {"type": "string"},
                            "host": {"type": "string"},
                            "pid": {"type": "integer"},
                            "types": {"type": "array", "items": {"type": "string"}},
                            "concurrency": {"type": "integer", "minimum": 1},
                            "running": {
                                "type": "array",
                                "items": {"type": "string"},
                                "description": "ids of the tasks it runs (as of last_seen)",
                            },
                            "version": {"type": "string"},
                            "started_at": time,
                            "last_seen": time,
                            "expires_at": {
                                **time,
                                "description": "gone after this unless it reports again",
                            },
                        },
                    },
                }
            },
        },
        "Paused": {
            "type": "object",
            "required": ["task_type", "changed", *limits],
            "properties": {
                "task_type": {"type": "string"},
                "changed": {
                    "type": "boolean",
                    "description": "false: it was so already (paused, or not paused)",
                },
                **limits,
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
                            "last_seen": nullable(time),
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
                "required": list(limits),
                "properties": limits,
            },
        },
        "SetConcurrency": {
            "type": "object",
            "required": ["task_type", "max_concurrency"],
            "additionalProperties": False,
            "properties": {
                "task_type": type_name,
                "max_concurrency": nullable(
                    {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT}
                ),
                "key": nullable(flow_key),
                "per_key": {"type": "boolean"},
            },
            "not": {
                "required": ["key", "per_key"],
                "properties": {"key": {"type": "string"}, "per_key": {"const": True}},
            },
        },
        "SetWeight": {
            "type": "object",
            "required": ["task_type", "key", "weight"],
            "additionalProperties": False,
            "properties": {
                "task_type": type_name,
                "key": flow_key,
                "weight": nullable({"type": "integer", "minimum": 1, "maximum": MAX_WEIGHT}),
            },
        },
        "Weight": {
            "type": "object",
            "required": ["task_type", "key", "weight"],
            "properties": {
                "task_type": {"type": "string"},
                "key": {"type": "string"},
                "weight": {"type": "integer", "minimum": 1},
            },
        },
        "Schedule": {
            "type": "object",
            "required": ["name", "type", "enabled", "next_run", "last_run", "last_task_id"],
            "properties": {
                **schedule_fields,
                "name": {"type": "string"},
                "type": {"type": "string"},
                "source": {"type": "string", "enum": ["runtime", "code"]},
                "next_run": nullable(time),
                "last_run": nullable(time),
                "last_task_id": nullable({"type": "string"}),
            },
        },
        "ScheduleList": {
            "type": "object",
            "required": ["schedules"],
            "properties": {"schedules": {"type": "array", "items": ref("Schedule")}},
        },
        "NewSchedule": {
            "type": "object",
            "required": ["name", "type"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": f"^{SCHEDULE_NAME.pattern}$"},
                "type": type_name,
                **schedule_fields,
            },
            # exactly one of cron and every (given as a value, not null)
            "oneOf": [
                {"required": ["cron"], "properties": {"cron": {"type": "string"}}},
                {"required": ["every"], "properties": {"every": {"type": "number"}}},
            ],
        },
        "ScheduleChange": {
            "type": "object",
            "additionalProperties": False,
            "properties": schedule_fields,
        },
        "WorkflowNode": {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": {
                "type": type_name,
                "payload": nullable({"type": "object"}),
                "options": {"type": "object", "description": "submit options (not depends_on)"},
            },
        },
        "NewWorkflow": {
            "type": "object",
            "required": ["nodes"],
            "additionalProperties": False,
            "properties": {
                "nodes": {
                    "type": "object",
                    "minProperties": 1,
                    # at most MAX_NODES: checked by the core (422), not said here, where a
                    # tester would send MAX_NODES + 1 and get the body limit's 413 first
                    "description": f"the members by name (at most {MAX_NODES})",
                    "additionalProperties": ref("WorkflowNode"),
                },
                "edges": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "description": "each node's parents, by name",
                },
                "idempotency_key": nullable(
                    {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_KEY_LENGTH,
                        "description": "the same graph under the same key answers the first "
                        "workflow; another graph under it is refused",
                    }
                ),
            },
        },
        "Workflow": {
            "type": "object",
            "required": ["id", "task_ids"],
            "properties": {
                "id": {"type": "string"},
                "task_ids": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "WorkflowState": {
            "type": "object",
            "required": ["id", "status", "counts", "tasks"],
            "properties": {
                "id": {"type": "string"},
                "status": {"type": "string", "enum": ["running", "success", "failed", "canceled"]},
                "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                "tasks": {"type": "array", "items": ref("Task")},
            },
        },
        "Deleted": {
            "type": "object",
            "required": ["name", "deleted"],
            "properties": {"name": {"type": "string"}, "deleted": {"const": True}},
        },
        "Rates": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": list(rates),
                "properties": rates,
            },
        },
        "SetRate": {
            "type": "object",
            "required": ["task_type", "rate"],
            "additionalProperties": False,
            "properties": {
                "task_type": type_name,
                "rate": nullable(rate_text),
                "key": nullable(flow_key),
                "per_key": {"type": "boolean"},
            },
            "not": {
                "required": ["key", "per_key"],
                "properties": {"key": {"type": "string"}, "per_key": {"const": True}},
            },
        },
        "RatesOfType": {
            "type": "object",
            "required": ["task_type", *rates],
            "properties": {"task_type": {"type": "string"}, **rates},
        },
        "ConcurrencyOfType": {
            "type": "object",
            "required": ["task_type", *limits],
            "properties": {"task_type": {"type": "string"}, **limits},
        },
        "KeyUsage": {
            "type": "object",
            "required": ["task_type", "keys"],
            "properties": {
                "task_type": {"type": "string"},
                "keys": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["key", "running", "waiting", "limit"],
                        "properties": {
                            "key": {"type": "string"},
                            "running": {"type": "integer", "minimum": 0},
                            "waiting": {"type": "integer", "minimum": 0},
                            "limit": nullable({"type": "integer", "minimum": 0}),
                        },
                    },
                },
            },
        },
    }
