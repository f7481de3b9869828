"""JSON in and out: fast responses, bounded body reading, and the error mapping.

Every error leaves as ``{"error": {"code": ..., "message": ...}}`` with the
status its kind calls for; an unexpected exception is logged here with its
traceback and answered with a generic 500, so no stack trace reaches a client.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from xqueue_core.errors import (
    BackendError,
    PayloadTooLarge,
    ScheduleNotFound,
    TaskAlreadyFinished,
    TaskNotDead,
    TaskNotFound,
    UserError,
    ValidationError,
    WorkflowNotFound,
)
from xqueue_core.logs import get_logger

log = get_logger("xqueue.http")

JSON_TYPE = "application/json"


class FastJSON(JSONResponse):
    """A JSON response encoded with orjson (non-string keys allowed)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class ApiError(Exception):
    """An error answered as ``{"error": {...}}`` with ``status``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> FastJSON:
    return FastJSON({"error": {"code": code, "message": message}}, status, headers=headers)


def status_of(exc: UserError) -> int:
    """The HTTP status of a user error (the most specific class wins)."""
    if isinstance(exc, TaskNotFound | ScheduleNotFound | WorkflowNotFound):
        return 404
    if isinstance(exc, TaskAlreadyFinished | TaskNotDead):
        return 409
    if isinstance(exc, PayloadTooLarge):
        return 413
    if isinstance(exc, ValidationError):
        return 422
    return 400


async def json_object(request: Request, limit: int) -> dict[str, Any]:
    """The request body as a JSON object (:func:`read_json`), or a 422."""
    body = await read_json(request, limit)
    if not isinstance(body, dict):
        raise ValidationError(f"request body must be a JSON object, got {type(body).__name__}")
    return body


def only_fields(body: dict[str, Any], allowed: Iterable[str]) -> None:
    """Refuse (422) a body with fields outside ``allowed``, naming both."""
    known = sorted(allowed)
    extra = set(body) - set(known)
    if extra:
        raise ValidationError(
            f"unknown field(s) {', '.join(sorted(extra))}; allowed: {', '.join(known)}"
        )


async def read_json(request: Request, limit: int) -> Any:
    """The request body parsed as JSON; 413 past ``limit`` bytes, 400 when malformed."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, "malformed_request", "Content-Length is not a number") from None
        if size > limit:
            raise ApiError(
                413, "body_too_large", f"request body is {size} bytes; the limit is {limit}"
            )
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise ApiError(
                413, "body_too_large", f"request body is over the limit of {limit} bytes"
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise ApiError(400, "malformed_json", "request body is empty; send a JSON object")
    # Only JSON: a browser can send a form or text/plain cross-site without asking
    # (no CORS preflight), but never application/json, so this also stops CSRF.
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != JSON_TYPE and not kind.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send Content-Type: application/json (got {kind or 'none'})",
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}") from None


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def on_user_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UserError)
    return error_response(status_of(exc), exc.code, str(exc))


async def on_backend_error(request: Request, exc: Exception) -> Response:
    log.error("backend error", path=request.url.path, error=str(exc))
    return error_response(
        503,
        "backend_unavailable",
        "a backend (broker or store) is unavailable; try again later",
        {"Retry-After": "1"},
    )


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    path = request.scope.get("path", "")
    message = {
        404: f"no route {path}",
        405: f"method {request.method} is not allowed on {path}",
    }.get(exc.status_code, str(exc.detail))
    headers = dict(exc.headers) if exc.headers else None
    return error_response(
        exc.status_code, codes.get(exc.status_code, "http_error"), message, headers
    )


async def on_unexpected(request: Request, exc: Exception) -> Response:
    # Formatted here rather than with exc_info: a renderer that shows local
    # variables (rich) would print the request's headers, tokens included.
    log.error(
        "request failed",
        method=request.method,
        path=request.url.path,
        exception="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    )
    return error_response(500, "internal_error", "internal error; the server log has details")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: on_api_error,
    UserError: on_user_error,
    BackendError: on_backend_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
