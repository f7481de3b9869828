"""Topics and payloads: what a task event becomes on the broker (DESIGN §5).

=============================================  ========  =========================
topic                                          retained  payload
=============================================  ========  =========================
``{prefix}/tasks/{task_id}/status``            yes       the event (JSON)
``{prefix}/status/{status}``                   no        the event (JSON) [#]_
``{prefix}/tasks/{task_id}/progress``          yes       the progress event (JSON)
``{prefix}/workers/{client_id}``               yes       presence (JSON)
=============================================  ========  =========================

.. [#] unless the ``stream`` setting is off.

A purged task's retained topics get an empty retained message, which deletes
them on the broker. "retained" holds when the ``retain`` setting is on.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import orjson

from xqueue_core.models import TaskEvent, iso

PAYLOAD_VERSION = 1


class Outgoing(NamedTuple):
    """One MQTT publish: topic, payload bytes, retain flag."""

    topic: str
    payload: bytes
    retain: bool


def status_topic(prefix: str, task_id: str) -> str:
    return f"{prefix}/tasks/{task_id}/status"


def progress_topic(prefix: str, task_id: str) -> str:
    return f"{prefix}/tasks/{task_id}/progress"


def stream_topic(prefix: str, status: str) -> str:
    return f"{prefix}/status/{status}"


def presence_topic(prefix: str, client_id: str) -> str:
    return f"{prefix}/workers/{client_id}"


def event_payload(event: TaskEvent) -> bytes:
    """The JSON payload of an event: :meth:`TaskEvent.to_dict` plus a schema version."""
    data = event.to_dict()
    data["v"] = PAYLOAD_VERSION
    return orjson.dumps(data)


def outgoing(event: TaskEvent, prefix: str, retain: bool, stream: bool = True) -> list[Outgoing]:
    """The publishes one event turns into, in the order they must be sent.

    ``stream=False`` leaves out the ``{prefix}/status/{status}`` copy.
    """
    if event.kind == "purged":
        if not retain:
            return []
        return [
            Outgoing(status_topic(prefix, event.task_id), b"", True),
            Outgoing(progress_topic(prefix, event.task_id), b"", True),
        ]
    payload = event_payload(event)
    if event.kind == "progress":
        return [Outgoing(progress_topic(prefix, event.task_id), payload, retain)]
    status = Outgoing(status_topic(prefix, event.task_id), payload, retain)
    if not stream:
        return [status]
    return [status, Outgoing(stream_topic(prefix, str(event.status)), payload, False)]


def presence_payload(
    client_id: str,
    state: str,
    workers: Mapping[str, Sequence[str]] | None = None,
    reason: str | None = None,
    stamped: bool = True,
) -> bytes:
    """Presence of one notifier connection (and the workers of its process)."""
    data: dict[str, Any] = {
        "v": PAYLOAD_VERSION,
        "client_id": client_id,
        "state": state,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    if workers is not None:
        data["workers"] = [
            {"worker_id": worker_id, "task_types": list(types)}
            for worker_id, types in workers.items()
        ]
    if reason is not None:
        data["reason"] = reason
    if stamped:
        data["timestamp"] = iso(time.time())
    return orjson.dumps(data)
