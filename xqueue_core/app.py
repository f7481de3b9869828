"""The XQueue application object: handlers, backends, and the client API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .debounce import check_debounced, submit_debounced
from .errors import (
    BackendError,
    TaskAlreadyFinished,
    TaskNotFound,
    UnknownTaskType,
    ValidationError,
)
from .events import EventBus
from .flow import key_of
from .flow_control import FlowControl
from .handlers import Executor, HandlerRegistrar, HandlerSpec, check_type_name, make_spec
from .ids import new_id
from .interfaces import (
    Backends,
    Broker,
    Notifier,
    PublishingStore,
    Store,
)
from .logs import get_logger
from .models import (
    CancelOutcome,
    Message,
    Page,
    Task,
    TaskEvent,
    TaskStatus,
)
from .pausing import PauseControl
from .plugins import Plugins
from .presence import PresenceControl
from .replay import ReplayControl
from .schedule_control import ScheduleControl
from .settings import Settings, load_settings
from .validation import SubmitRequest, check_submit
from .waiting import wait_for_task
from .workflow_control import WorkflowControl
from .workflows import DEFAULT_ON_PARENT_FAILURE, dependency_store

if TYPE_CHECKING:
    from .client import BlockingClient
    from .schedules import Schedule
    from .worker import Worker

F = TypeVar("F", bound=Callable[..., Any])
log = get_logger("xqueue")
KNOWN_TYPES_TTL = 2.0
MAX_LIST_LIMIT = 1000


class XQueue(
    FlowControl, PauseControl, PresenceControl, ReplayControl, ScheduleControl, WorkflowControl
):
    """An xqueue application: register handlers, submit tasks, run workers.

    ::

        app = XQueue()

        @app.task("email", max_retry=3)
        async def send_email(payload, ctx):
            ...

        async with app:
            task = await app.submit("email", {"to": "a@example.com"})

    :param broker, store, notify: backend URLs; default from settings
        (``XQUEUE_BROKER`` ..., else the embedded ``sqlite:///xqueue.db``).
    :param settings: a complete :class:`Settings`; otherwise they are loaded
        from ``config_file``/``xqueue.toml``, the environment and ``overrides``.
    :param plugins: extra plugin objects or modules to register (tests, apps).
    :param autoload_plugins: load plugins of the ``xqueue`` entry-point group.
    """

    def __init__(
        self,
        name: str = "xqueue",
        *,
        broker: str | None = None,
        store: str | None = None,
        notify: Sequence[str] | str | None = None,
        settings: Settings | None = None,
        config_file: str | None = None,
        plugins: Iterable[object] = (),
        autoload_plugins: bool = True,
        **overrides: Any,
    ) -> None:
        self.name = name
        self._init_args = {
            "broker": broker,
            "store": store,
            "notify": notify,
            "config_file": config_file,
            **overrides,
        }
        self._settings = settings
        self.plugins = Plugins(autoload=autoload_plugins, extra=plugins)
        self._handlers: dict[str, HandlerSpec] = {}
        self._plugin_handlers_loaded = False
        self.broker: Broker | None = None
        self.store: Store | None = None
        self.notifiers: list[Notifier] = []
        self.events = EventBus(None, [])
        self._opened = 0
        self._open_lock: asyncio.Lock | None = None
        self._known_types: tuple[float, Mapping[str, Mapping[str, Any]]] = (0.0, {})
        self._declared_schedules: dict[str, Schedule] = {}  # app.schedule(...)
        self._last_maintain = 0.0
        self._background: set[asyncio.Task[None]] = set()

    # -- configuration ------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The app's settings, loaded and validated on first use."""
        if self._settings is None:
            args = dict(self._init_args)
            config_file = args.pop("config_file")
            notify = args.get("notify")
            if isinstance(notify, str):
                args["notify"] = (notify,)
            self._settings = load_settings(config_file=config_file, overrides=args)
        return self._settings

    def configure(self, base: Settings | None = None, /, **changes: Any) -> None:
        """Change settings before the app opens (the CLI applies its flags this way):
        ``changes`` on top of the app's settings, or of ``base`` instead (the CLI's
        ``--config`` file replaces the app's own settings)."""
        if self._opened:
            raise RuntimeError("configure() must be called before the app opens")
        self._settings = (base if base is not None else self.settings).replace(**changes)

    # -- handlers -------------------------------------------------------------

    def task(
        self,
        task_type: str,
        *,
        max_retry: int = 0,
        queue_timeout: float = 0.0,
        process_timeout: float = 0.0,
        priority: int = 0,
        executor: Executor | None = None,
        retry_backoff: float | None = None,
        key: str | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function as the handler of ``task_type``.

        The handler takes ``(payload)`` or ``(payload, ctx)`` and may be async
        (runs on the event loop) or plain (runs on its own thread, or with
        ``executor="process"`` in a child process that is killed at its
        timeout). The keyword arguments are defaults for tasks of this type;
        a submit may override them. ``key`` names the payload field holding a
        task's flow key (a tenant, a customer: see :mod:`xqueue_core.flow`).
        Returns the function unchanged.
        """

        def decorate(func: F) -> F:
            self._add_handler(
                make_spec(
                    task_type,
                    func,
                    max_retry=max_retry,
                    queue_timeout=queue_timeout,
                    process_timeout=process_timeout,
                    priority=priority,
                    executor=executor,
                    retry_backoff=retry_backoff,
                    key=key,
                )
            )
            return func

        return decorate

    def _add_handler(self, spec: HandlerSpec) -> None:
        if spec.type in self._handlers:
            other = self._handlers[spec.type]
            raise ValidationError(
                f"task type {spec.type!r} is registered twice ({other.source} and {spec.source})"
            )
        self._handlers[spec.type] = spec

    @property
    def handlers(self) -> Mapping[str, HandlerSpec]:
        """Every handler: the app's own and those of installed handler packages."""
        if not self._plugin_handlers_loaded:
            self._plugin_handlers_loaded = True

            def register_for(plugin: str) -> HandlerRegistrar:
                def register(task_type: str, func: Callable[..., Any], **options: Any) -> None:
                    self._add_handler(make_spec(task_type, func, source=plugin, **options))

                return register

            self.plugins.hooks.register_handlers(register_for)
        return self._handlers

    # -- life -------------------------------------------------------------------

    async def open(self) -> None:
        """Create and connect the backends (idempotent; pairs with :meth:`close`)."""
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            self._opened += 1
            if self._opened > 1:
                return
            try:
                settings = self.settings
                self.plugins.hooks.configure(settings)
                self.handlers  # noqa: B018 - load handler plugins now: errors surface at start
                self.store = self.plugins.create("store", settings.store, settings)
                self.broker = self.plugins.create("broker", settings.broker, settings)
                self.notifiers = [
                    self.plugins.create("notifier", url, settings) for url in settings.notify
                ]
                await self.store.open()
                await self.broker.open()
                for notifier in self.notifiers:
                    await notifier.open()
                self.events = EventBus(self.plugins.hooks, self.notifiers)
            except BaseException:
                self._opened = 1
                await self._close_backends()
                self._opened = 0
                raise

    async def close(self) -> None:
        """Disconnect (when the last :meth:`open` is balanced)."""
        if self._opened == 0:
            return
        self._opened -= 1
        if self._opened == 0:
            await self._close_backends()

    def _background_done(self, job: asyncio.Task[None]) -> None:
        self._background.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.warning("recording published tasks failed", error=str(job.exception()))

    async def _close_backends(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for backend in [*self.notifiers, self.broker, self.store]:
            if backend is not None:
                try:
                    await backend.close()
                except Exception:
                    log.exception("closing backend failed", url=backend.url)
        self.notifiers, self.broker, self.store = [], None, None

    async def __aenter__(self) -> XQueue:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def backends(self) -> Backends:
        """The open broker and store; RuntimeError when the app is not open."""
        if self.broker is None or self.store is None:
            raise RuntimeError("the app is not open: use 'async with app:' or 'await app.open()'")
        return Backends(self.broker, self.store)

    # -- submitting -----------------------------------------------------------

    async def known_types(self, refresh: bool = False) -> set[str]:
        """Types a submit may use: this app's handlers plus those workers announced."""
        return set(await self._announced(refresh)) | set(self.handlers)

    async def _announced(self, refresh: bool = False) -> Mapping[str, Mapping[str, Any]]:
        """Announced types and their handlers' defaults (cached for a moment)."""
        _, store = self.backends()
        stamp, cached = self._known_types
        if refresh or time.monotonic() - stamp > KNOWN_TYPES_TTL:
            cached = {info.name: info.defaults for info in await store.known_types()}
            self._known_types = (time.monotonic(), cached)
        return cached

    async def _check_type(self, task_type: str) -> None:
        if task_type in self.handlers:
            return
        known = await self.known_types()
        if task_type not in known:
            known = await self.known_types(refresh=True)
        if task_type not in known:
            listing = ", ".join(sorted(known)) or "none (start a worker with handlers)"
            raise UnknownTaskType(
                f"no worker has registered task type {task_type!r}; registered types: {listing}"
            )

    def build_task(self, req: SubmitRequest, now: float) -> Task:
        """A task record for a validated submit, with the handler's defaults for what
        it leaves out (not stored; ``now`` is the store's clock, for a delay)."""
        # Fields the submit leaves out take the handler's defaults: this app's own
        # handler, else the defaults its workers announced (CLI and API submits).
        spec = self.handlers.get(req.type)
        defaults = spec.defaults() if spec is not None else self._known_types[1].get(req.type, {})

        def pick(value: Any, attr: str, fallback: Any) -> Any:
            if value is not None:
                return value
            return defaults.get(attr, fallback)

        eta = req.eta
        if req.delay:
            eta = now + req.delay
        return Task(
            id=new_id(),
            type=req.type,
            payload=req.payload,
            priority=pick(req.priority, "priority", 0),
            max_retry=pick(req.max_retry, "max_retry", 0),
            queue_timeout=pick(req.queue_timeout, "queue_timeout", 0.0),
            process_timeout=pick(req.process_timeout, "process_timeout", 0.0),
            eta=eta,
            idempotency_key=req.idempotency_key,
            key=key_of(req.type, req.payload, defaults.get("key"), req.key),
            depends_on=None if req.depends_on is None else list(req.depends_on),
            on_parent_failure=req.on_parent_failure
            or (None if req.depends_on is None else DEFAULT_ON_PARENT_FAILURE),
        )

    async def submit(
        self, task_type: str, payload: Mapping[str, Any] | None = None, **options: Any
    ) -> Task:
        """Submit one task and return its record (``pending``).

        Options: ``priority``, ``max_retry``, ``queue_timeout``,
        ``process_timeout`` (seconds), ``delay`` (seconds) or ``eta`` (epoch
        seconds or ISO 8601), ``idempotency_key`` (a second submit with the
        same key returns the first task), ``key`` (the flow key, instead of the
        handler's payload field), ``debounce`` (seconds: submits of the same type
        and key within it collapse into one task, the last payload winning; see
        :mod:`xqueue_core.debounce`) with ``debounce_max`` (seconds: the latest
        start after the first of them), ``depends_on`` (task ids: the task is
        ``waiting`` until they all ended; see :mod:`xqueue_core.workflows`) with
        ``on_parent_failure`` (``cancel``, the default, or ``run``). Raises
        :class:`ValidationError` or :class:`UnknownTaskType` and changes nothing on
        bad input.
        """
        data = {"type": task_type, "payload": payload, **options}
        return (await self.submit_many([data]))[0]

    async def submit_many(self, items: Sequence[Mapping[str, Any]]) -> list[Task]:
        """Submit several tasks at once (all validated before any is stored)."""
        _, store = self.backends()
        requests: list[SubmitRequest] = []
        for index, item in enumerate(items):
            try:
                requests.append(check_submit(item, self.settings.max_payload_bytes))
            except ValidationError as exc:
                if len(items) == 1:
                    raise
                raise type(exc)(f"task {index}: {exc}") from None
        for task_type in {r.type for r in requests}:
            await self._check_type(task_type)
        if any(r.depends_on for r in requests):
            dependency_store(store)
        # the store's clock is read only when a delay needs it (one round trip less)
        now = await store.now() if any(r.delay for r in requests) else 0.0
        tasks = [self.build_task(r, now) for r in requests]
        if any(r.debounce is not None for r in requests):
            check_debounced(requests, tasks)
            plain = [t for r, t in zip(requests, tasks, strict=True) if r.debounce is None]
            stored = iter(await self._store_new(plain) if plain else [])
            merged = iter(await submit_debounced(self.events, store, requests, tasks))
            return [next(stored if r.debounce is None else merged) for r in requests]
        return await self._store_new(tasks)

    async def _store_new(self, tasks: list[Task]) -> list[Task]:
        """Create tasks and publish those due now (the plain submit path)."""
        broker, store = self.backends()
        wanted = self.events.wanted
        if not wanted and isinstance(store, PublishingStore) and store.publishes_for(broker):
            # One atomic step. (With listeners, a task's pending event must leave
            # before its message exists, so they take the two steps below.)
            created = await store.create_and_publish(tasks, self.settings.publish_grace, broker)
            return [task for task, _ in created]
        created = await store.create(tasks, self.settings.publish_grace)
        new = [task for task, is_new in created if is_new]
        due = [
            t
            for t in new
            if t.status == TaskStatus.PENDING and (t.eta is None or t.eta <= t.created_at)
        ]
        wanted = bool(new) and wanted
        if wanted:
            # before the message exists, so no worker's later event can be overtaken by it
            await self.events.emit([TaskEvent.of(t) for t in new])
        if due:
            try:
                await broker.publish([Message(t.id, t.type, t.priority) for t in due])
            except BaseException:
                await store.discard([t.id for t in new])
                if wanted:
                    await self.events.emit([TaskEvent.of(t, kind="purged") for t in new])
                raise
            # Off the submit path: if it never lands, the task is only published
            # again after publish_grace, and the duplicate message is a no-op.
            job = asyncio.create_task(
                store.mark_queued([t.id for t in due], self.settings.republish_after)
            )
            self._background.add(job)
            job.add_done_callback(self._background_done)
        for task in new:
            log.debug("task submitted", task_id=task.id, task_type=task.type)
        return [task for task, _ in created]

    # -- reading and controlling ----------------------------------------------

    async def get(self, task_id: str) -> Task:
        """The task's current record; raises :class:`TaskNotFound`."""
        _, store = self.backends()
        task = await store.get(task_id)
        if task is None:
            raise TaskNotFound(f"task {task_id!r} not found")
        return task

    async def wait(
        self,
        task_id: str,
        timeout: float | None = None,
        on_change: Callable[[Task], None] | None = None,
    ) -> Task:
        """Wait until the task is terminal; raises TimeoutError after ``timeout``.

        ``on_change`` is called whenever the status or progress changes.
        """
        _, store = self.backends()
        return await wait_for_task(store, self.get, task_id, timeout, on_change)

    async def cancel(self, task_id: str) -> Task:
        """Cancel a task: pending never runs, running is stopped within a second.

        Raises :class:`TaskNotFound`, or :class:`TaskAlreadyFinished` for a
        terminal task. Returns the task as it is after the request.
        """
        _, store = self.backends()
        result, events = await store.cancel(task_id)
        await self.events.emit(events)
        if result is None:
            raise TaskNotFound(f"task {task_id!r} not found")
        if result.outcome == CancelOutcome.FINISHED:
            raise TaskAlreadyFinished(
                f"task {task_id} already finished with status {result.task.status}"
            )
        return result.task

    async def maintain(self, force: bool = False) -> None:
        """Run the store's upkeep now (queue timeouts, lost leases, retention) and
        send the events it caused. Reads call it, at most once per
        ``maintenance_interval``, so a process without workers never shows an
        overdue task as pending."""
        _, store = self.backends()
        now = time.monotonic()
        if not force and now - self._last_maintain < self.settings.maintenance_interval:
            return
        self._last_maintain = now
        await self.events.emit(await store.maintain(self.settings.max_redeliveries))

    async def list(
        self,
        status: str | TaskStatus | None = None,
        type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Tasks newest first, filtered by status and type; page with ``cursor``."""
        _, store = self.backends()
        if status is not None:
            try:
                status = TaskStatus(status)
            except ValueError:
                raise ValidationError(
                    f"status must be one of {', '.join(s.value for s in TaskStatus)}, "
                    f"got {status!r}"
                ) from None
        if type is not None:
            check_type_name(type)
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_LIST_LIMIT
        ):
            raise ValidationError(f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit!r}")
        await self.maintain()
        return await store.list_tasks(status, type, limit, cursor)

    async def stats(self) -> dict[str, Any]:
        """Counts by status and type, tokens in use and limits per type, the paused
        types, broker numbers."""
        broker, store = self.backends()
        await self.maintain()
        counts = await store.counts()
        by_status = {s.value: counts["status"].get(s.value, 0) for s in TaskStatus}
        return {
            "total": sum(by_status.values()),
            "by_status": by_status,
            "by_type": counts["type"],
            "running": await store.running(),
            "limits": await store.limits(),
            "paused": sorted(await store.paused()),
            "broker": await broker.stats(),
        }

    async def health(self) -> dict[str, str]:
        """``{role: "ok" | error}`` for the broker, the store and each notifier."""
        broker, store = self.backends()
        out: dict[str, str] = {}
        for role, backend in [("broker", broker), ("store", store)] + [
            (f"notifier:{n.url}", n) for n in self.notifiers
        ]:
            try:
                await asyncio.wait_for(backend.ping(), 5)
                out[role] = "ok"
            except (BackendError, OSError, TimeoutError, Exception) as exc:
                out[role] = f"error: {exc}"
        return out

    # -- helpers ------------------------------------------------------------------

    def worker(self, **options: Any) -> Worker:
        """A :class:`Worker` for this app (see its options)."""
        from .worker import Worker

        return Worker(self, **options)

    def client(self) -> BlockingClient:
        """A blocking client, for scripts that do not use asyncio."""
        from .client import BlockingClient

        return BlockingClient(self)
