"""The ASGI application: routes, pages, the event hub and the API's reaper.

:func:`create_app` builds a Starlette app around an :class:`XQueue`; its
lifespan opens the app's backends, follows the event log and runs the store's
upkeep, and closes everything on shutdown. Run it with ``xqueue serve`` /
``xqueue api``, or under any ASGI server (see :mod:`xqueue_http.asgi`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from xqueue_core import XQueue
from xqueue_core.logs import get_logger

from .api import API, Api
from .auth import require
from .config import HttpSettings, load_settings
from .events import EventHub
from .openapi import document
from .responses import EXCEPTION_HANDLERS, ApiError, FastJSON
from .schedules import ScheduleApi
from .streams import Streams
from .workflows import WorkflowApi

log = get_logger("xqueue.http")
Endpoint = Callable[[Request], Awaitable[Response]]

STATIC = Path(str(files("xqueue_http") / "static"))
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _version() -> str:
    try:
        return version("xqueue-http")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


async def reaper(app: XQueue, interval: float, stopping: asyncio.Event) -> None:
    """Run the store's upkeep (queue timeouts, expired leases) every ``interval``."""
    delay = interval
    while not stopping.is_set():
        store = app.store
        if store is None:
            return
        try:
            events = await store.maintain(app.settings.max_redeliveries)
            if events:
                await app.events.emit(events)
            delay = interval
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("store upkeep failed; retrying", error=str(exc))
            delay = min(delay * 2, 10.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)


class _Quiet:
    """Outermost layer: an exception already answered as a 500 and logged stops here,
    instead of the server logging its traceback a second time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:
            if scope["type"] != "http":
                raise


def _page(name: str) -> Any:
    body = (STATIC / name).read_bytes()

    async def serve(request: Request) -> Response:
        return Response(body, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    return serve


def _route(path: str, timeout: float, **by_method: Endpoint) -> Route:
    """One route for ``path`` answering each method with its endpoint (405 otherwise).

    An answer not ready within ``timeout`` seconds (a backend that hangs or keeps
    retrying) is a 503; an event stream counts only until it starts.
    """
    table = {method.upper(): endpoint for method, endpoint in by_method.items()}

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        try:
            async with asyncio.timeout(timeout):
                return await table[method](request)
        except TimeoutError:
            raise ApiError(
                503,
                "backend_timeout",
                f"no answer from the backends within {timeout:g} s; try again later "
                "(a submit may have been stored: repeat it with the same idempotency_key)",
                {"Retry-After": "1"},
            ) from None

    return Route(path, dispatch, methods=list(table))


def create_app(
    app: XQueue, config: HttpSettings | None = None, *, manage_app: bool = True
) -> Starlette:
    """The ASGI app serving ``app``'s API, event streams, dashboard and docs.

    :param config: HTTP settings; by default from ``app.settings`` and the environment.
    :param manage_app: open and close ``app`` in the lifespan (off when the
        caller already opened it).
    """
    http_config = config or load_settings(app.settings)
    hub = EventHub(app, http_config.event_buffer, http_config.history_tasks)
    api = Api(app, http_config, hub)
    schedules = ScheduleApi(app, http_config)
    workflows = WorkflowApi(app, http_config)
    streams = Streams(http_config, hub)
    app_version = _version()
    documents: dict[tuple[str, ...], bytes] = {}

    async def openapi(request: Request) -> Response:
        require(http_config, request, "read")
        types = tuple(sorted(await app.known_types()))
        if types not in documents:
            root = request.scope.get("root_path", "") or "/"
            documents.clear()
            documents[types] = bytes(FastJSON(document(types, app_version, root)).body)
        return Response(documents[types], media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if manage_app:
            await app.open()
        hub.stopping.clear()
        hub.start()
        loops = []
        if http_config.reaper:
            interval = max(1.0, app.settings.maintenance_interval * 4)
            loops.append(asyncio.create_task(reaper(app, interval, hub.stopping)))
        try:
            yield
        finally:
            await hub.stop()
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            if manage_app:
                await app.close()

    route = functools.partial(_route, timeout=http_config.request_timeout)
    routes = [
        route(f"{API}/tasks", get=api.list_tasks, post=api.submit),
        route(f"{API}/tasks/batch", post=api.submit_batch),
        route(f"{API}/tasks/replay", post=api.replay_tasks),
        route(f"{API}/tasks/{{task_id}}", get=api.get_task, delete=api.cancel_task),
        route(f"{API}/tasks/{{task_id}}/history", get=api.task_history),
        route(f"{API}/tasks/{{task_id}}/replay", post=api.replay_task),
        route(f"{API}/tasks/{{task_id}}/events", get=streams.task_events),
        route(f"{API}/events", get=streams.all_events),
        route(f"{API}/stats", get=api.stats),
        route(f"{API}/throughput", get=api.throughput),
        route(f"{API}/health", get=api.health),
        route(f"{API}/handlers", get=api.handlers),
        route(f"{API}/workers", get=api.workers),
        route(f"{API}/concurrency", get=api.get_concurrency, post=api.set_concurrency),
        route(f"{API}/concurrency/{{task_type}}/keys", get=api.get_key_usage),
        route(f"{API}/concurrency/{{task_type}}/pause", post=api.pause_type),
        route(f"{API}/concurrency/{{task_type}}/resume", post=api.resume_type),
        route(f"{API}/concurrency/weights", post=api.set_weight),
        route(f"{API}/rates", get=api.get_rates, post=api.set_rate),
        route(f"{API}/schedules", get=schedules.list, post=schedules.add),
        route(
            f"{API}/schedules/{{name}}",
            get=schedules.get,
            patch=schedules.update,
            delete=schedules.delete,
        ),
        route(f"{API}/schedules/{{name}}/run", post=schedules.run),
        route(f"{API}/workflows", post=workflows.create),
        route(f"{API}/workflows/{{workflow_id}}", get=workflows.get, delete=workflows.cancel),
        route(f"{API}/openapi.json", get=openapi),
        route("/", get=_page("dashboard.html")),
        route("/docs", get=_page("docs.html")),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = []
    if http_config.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(http_config.cors_origins),
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
                expose_headers=["Location"],
                max_age=600,
            )
        )
    web = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    web.state.xqueue = app
    web.state.hub = hub
    web.state.config = http_config
    return web


def wrap(web: Starlette) -> ASGIApp:
    """The app as served: ``web`` behind the layer that keeps 500s quiet."""
    return _Quiet(web)
