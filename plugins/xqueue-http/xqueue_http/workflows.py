"""The REST endpoints of workflows: ``/api/v1/workflows``.

``POST /workflows`` submits a graph (``{"nodes": {name: {"type", "payload",
"options"}}, "edges": {name: [parent names]}, "idempotency_key": ...}``) in one
atomic store call (the same graph under the same key again answers the first);
``GET /workflows/{id}`` shows its members and status; ``DELETE /workflows/{id}``
cancels every member that has not ended. Submitting and cancelling need the admin
token, reading the read token. Validation is the core's
(:meth:`xqueue_core.XQueue.submit_workflow`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from xqueue_core import Node
from xqueue_core.errors import ValidationError

from .auth import require
from .responses import FastJSON, json_object, only_fields

if TYPE_CHECKING:
    from xqueue_core import XQueue

    from .config import HttpSettings


def _nodes(raw: Any) -> dict[str, Node]:
    if not isinstance(raw, Mapping):
        raise ValidationError("nodes must be an object of node name -> task")
    out: dict[str, Node] = {}
    for name, spec in raw.items():
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise ValidationError(f"node {name!r} must be an object with a type")
        only_fields(dict(spec), {"type", "payload", "options"})
        options = spec.get("options", {})
        if not isinstance(options, Mapping):
            raise ValidationError(f"node {name!r}: options must be an object")
        out[str(name)] = Node(spec["type"], spec.get("payload"), dict(options))
    return out


def _edges(raw: Any) -> dict[str, Sequence[str]]:
    if not isinstance(raw, Mapping) or not all(
        isinstance(v, list) and all(isinstance(p, str) for p in v) for v in raw.values()
    ):
        raise ValidationError("edges must be an object of node name -> list of parent names")
    return {str(k): list(v) for k, v in raw.items()}


class WorkflowApi:
    """The workflow endpoints, bound to one app and its HTTP settings."""

    def __init__(self, app: XQueue, config: HttpSettings) -> None:
        self.app = app
        self.config = config

    async def create(self, request: Request) -> Response:
        require(self.config, request, "admin")
        body = await json_object(request, self.config.max_body_bytes)
        only_fields(body, {"nodes", "edges", "idempotency_key"})
        if "nodes" not in body:
            raise ValidationError("field 'nodes' is required")
        edges = _edges(body["edges"]) if "edges" in body else {}
        workflow = await self.app.submit_workflow(
            _nodes(body["nodes"]), edges, body.get("idempotency_key")
        )
        data = {"id": workflow.id, "task_ids": workflow.task_ids}
        return FastJSON(data, 201, headers={"Location": f"/api/v1/workflows/{workflow.id}"})

    async def get(self, request: Request) -> Response:
        require(self.config, request, "read")
        state = await self.app.get_workflow(request.path_params["workflow_id"])
        return FastJSON(state.to_dict())

    async def cancel(self, request: Request) -> Response:
        require(self.config, request, "admin")
        state = await self.app.cancel_workflow(request.path_params["workflow_id"])
        return FastJSON(state.to_dict())
