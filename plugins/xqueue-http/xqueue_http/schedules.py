"""The REST endpoints of periodic schedules: ``/api/v1/schedules``.

``GET|POST /schedules``, ``GET|PATCH|DELETE /schedules/{name}``,
``POST /schedules/{name}/run``; reading needs the read token, changing the admin
token. Validation is the core's (:func:`xqueue_core.schedules.check_schedule`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from xqueue_core.errors import ValidationError

from .auth import require
from .responses import FastJSON, json_object, only_fields

if TYPE_CHECKING:
    from xqueue_core import XQueue

    from .config import HttpSettings

CHANGEABLE = frozenset(
    {"payload", "cron", "every", "tz", "catch_up", "overlap", "jitter", "enabled", "options"}
)


class ScheduleApi:
    """The schedule endpoints, bound to one app and its HTTP settings."""

    def __init__(self, app: XQueue, config: HttpSettings) -> None:
        self.app = app
        self.config = config

    async def _body(self, request: Request) -> dict[str, Any]:
        return await json_object(request, self.config.max_body_bytes)

    async def list(self, request: Request) -> Response:
        require(self.config, request, "read")
        states = await self.app.list_schedules()
        return FastJSON({"schedules": [s.to_dict() for s in states]})

    async def add(self, request: Request) -> Response:
        require(self.config, request, "admin")
        body = await self._body(request)
        for field in ("name", "type"):
            if field not in body:
                raise ValidationError(f"field {field!r} is required")
        if "source" in body:
            raise ValidationError("field 'source' is not set over the API")
        name, task_type = body.pop("name"), body.pop("type")
        if not isinstance(name, str):
            raise ValidationError(f"schedule name must be text, got {name!r}")
        state = await self.app.add_schedule(name, task_type, **body)
        return FastJSON(state.to_dict(), 201, headers={"Location": f"/api/v1/schedules/{name}"})

    async def get(self, request: Request) -> Response:
        require(self.config, request, "read")
        return FastJSON((await self.app.get_schedule(request.path_params["name"])).to_dict())

    async def update(self, request: Request) -> Response:
        require(self.config, request, "admin")
        body = await self._body(request)
        only_fields(body, CHANGEABLE)
        state = await self.app.update_schedule(request.path_params["name"], **body)
        return FastJSON(state.to_dict())

    async def delete(self, request: Request) -> Response:
        require(self.config, request, "admin")
        name = request.path_params["name"]
        await self.app.delete_schedule(name)
        return FastJSON({"name": name, "deleted": True})

    async def run(self, request: Request) -> Response:
        require(self.config, request, "admin")
        task = await self.app.run_schedule(request.path_params["name"])
        return FastJSON(task.to_dict(), 201, headers={"Location": f"/api/v1/tasks/{task.id}"})
