"""The three backend roles as typing protocols: Broker, Store, Notifier.

A backend plugin implements one or more of them and hands a factory to the core
through :func:`xqueue_core.hookspecs.xqueue_register_backends`. The core only
ever talks to backends through these methods; every method is a coroutine and
may raise :class:`~xqueue_core.errors.BackendError` when the service fails.

Semantics every implementation must keep are asserted by the contract suites in
:mod:`xqueue_core.testing` (``StoreContract``, ``BrokerContract``,
``NotifierContract``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, runtime_checkable

from .models import (
    CancelResult,
    Claim,
    Delivery,
    Finish,
    Heartbeat,
    KeyUsage,
    Message,
    Page,
    Task,
    TaskEvent,
    TaskStatus,
    TypeInfo,
    WorkerInfo,
)

if TYPE_CHECKING:
    from .rates import Rate
    from .schedules import Schedule, ScheduleState, TickFire
    from .settings import Settings

Role = Literal["broker", "store", "notifier"]
ROLES: tuple[Role, ...] = ("broker", "store", "notifier")


@runtime_checkable
class Backend(Protocol):
    """What every backend has: a URL, and an explicit open/close life."""

    url: str

    async def open(self) -> None:
        """Connect. Raise BackendError with the reason when the service is unreachable."""

    async def close(self) -> None:
        """Release connections and background tasks. Safe to call twice."""

    async def ping(self) -> None:
        """Raise BackendError if the service does not answer now (used by health checks)."""


@runtime_checkable
class Store(Backend, Protocol):
    """Task records, atomic transitions, leases, per-type limits, the event log.

    Every transition is one atomic compare-and-set inside the store, judged by
    the store's own clock. Methods that change tasks return the events they
    caused, in order; the store also appends them to its event log.
    """

    async def now(self) -> float:
        """The store's clock (seconds since the epoch)."""

    async def create(self, tasks: Sequence[Task], publish_grace: float) -> list[tuple[Task, bool]]:
        """Insert new pending tasks; ``created_at``/``updated_at`` are set by the store.

        A task whose ``idempotency_key`` is already used is not inserted: its
        pair is ``(existing_task, False)``. New tasks are ``(task, True)``. A
        delayed task (``eta`` set) is due for publishing at its ``eta``; any other
        at ``now + publish_grace``: unless :meth:`mark_queued` is called first,
        :meth:`take_due` hands it out then (so a crash between create and
        publish loses nothing).
        """

    async def debounce(
        self, task: Task, window: float, max_wait: float | None
    ) -> tuple[Task, bool]:
        """Create ``task`` (it has a flow key) unless its type and key have a waiting
        debounced task; either way in one atomic step, on the store's clock.

        A waiting task is the one the last new window of (type, key) created while it
        is pending, not parked, not yet due and never run. Then ``task`` is not
        inserted: the waiting task takes its payload and starts ``window`` seconds
        from now, but no later than ``max_wait`` after the submit that created it;
        returns ``(waiting task as it is now, False)``. Otherwise ``task`` is created
        as a delayed task due ``window`` from now (``max_wait`` if shorter) and opens
        the window: ``(task, True)``. See :mod:`xqueue_core.debounce`.
        """

    async def mark_queued(self, task_ids: Sequence[str], recheck: float = 0.0) -> None:
        """Record that these tasks' messages are on the broker.

        It replaces only the hold the publisher got (from :meth:`create`'s grace or
        :meth:`take_due`): a task due again by now was woken or released after the
        publish (a worker may have parked it in between) and stays due.
        With ``recheck`` > 0, a task that no worker has started ``recheck`` seconds
        later is handed out by :meth:`take_due` again (to be published again), for
        brokers that can lose acknowledged messages; 0 trusts the broker.
        """

    async def mark_unqueued(self, task_ids: Sequence[str]) -> None:
        """Record that these tasks' messages are not on the broker after all.

        For a publisher whose publish failed after :meth:`take_due` (or after
        taking a message off the broker to hand it back): each pending, unparked
        task is due for :meth:`take_due` again at once (or at its ``eta``, if
        later), so any process can publish it instead of waiting out the hold.
        A task due even earlier keeps its time; tasks in any other state are
        left alone.
        """

    async def discard(self, task_ids: Sequence[str]) -> None:
        """Delete tasks that were created but could not be published (rollback)."""

    async def take_due(self, limit: int, hold: float) -> list[Message]:
        """Hand out pending tasks whose publish time has come, oldest publish time first.

        Each one handed out is not handed out again for ``hold`` seconds; the
        caller publishes them and then calls :meth:`mark_queued`.
        """

    async def claim(
        self, task_ids: Sequence[str], worker_id: str, lease: float
    ) -> tuple[list[Claim], Sequence[TaskEvent]]:
        """Try to start each task for ``worker_id`` under a lease of ``lease`` seconds.

        STARTED: it was pending and due, its type was below its limit; it is now
        ``processing`` and holds one of its type's tokens (the lease is the token).
        A ``processing`` task whose lease expired is taken over (a re-run).
        DEFERRED: its type is at its limit; it is parked in the store and becomes
        due again when a token of its type frees (a run finishes, a lease expires,
        the limit is raised or removed); nothing re-checks it on a timer.
        GONE: nothing to run (terminal, not due yet, running under a live lease,
        unknown); a task past its queue timeout becomes ``timeout`` here.
        """

    async def heartbeat(self, worker_id: str, task_ids: Sequence[str], lease: float) -> Heartbeat:
        """Extend the leases (and so the tokens) of the caller's running tasks.

        Returns the ids whose cancel was requested and those no longer owned.
        """

    async def finish(self, finishes: Sequence[Finish]) -> tuple[list[bool], Sequence[TaskEvent]]:
        """Record how runs ended; each is applied only if ``worker_id`` still owns the task.

        Frees the token and wakes one parked task that may now start. Every freed slot
        (a finish, an expired lease, a raised limit) wakes the same way: round-robin
        over the keys of the type with parked tasks that are below their limits and
        whose next parked task is in the highest priority band any of them has
        (high > 0, normal 0, low < 0) — the next key after the one woken last, by
        name, wrapping around (tasks without a key count as the key ``""``) —
        highest priority, then oldest, first within a key; a key takes as many tasks
        per turn as its weight (:meth:`set_key_weight`); as many as the type has free
        slots, and no more per key than it has.
        """

    async def report_progress(
        self, task_id: str, worker_id: str, progress: float
    ) -> TaskEvent | None:
        """Store a running task's progress (0..1); None if the caller does not own it."""

    async def get(self, task_id: str) -> Task | None:
        """Read one task. An overdue pending task is turned into ``timeout`` first."""

    async def list_tasks(
        self,
        status: TaskStatus | None = None,
        type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Tasks newest first, filtered, ``limit`` at a time."""

    async def cancel(self, task_id: str) -> tuple[CancelResult | None, list[TaskEvent]]:
        """Cancel a pending task now, or ask the worker of a running one to stop it.

        Returns None when the task does not exist.
        """

    async def counts(self) -> dict[str, dict[str, int]]:
        """``{"status": {status: n}, "type": {type: n}}`` over tasks kept by the store."""

    async def set_limit(self, task_type: str, limit: int | None) -> None:
        """Set (or with None remove) the cluster-wide concurrency limit of a type."""

    async def limits(self) -> dict[str, int]:
        """All configured limits."""

    async def running(self) -> dict[str, int]:
        """Tokens in use per type (runs with a live lease)."""

    async def set_key_limit(self, task_type: str, key: str | None, limit: int | None) -> None:
        """Set (or with None remove) the limit of running tasks of one flow key of a
        type; ``key=None`` sets the default of every key of the type.

        :meth:`claim` starts a task with a key only while both its type and its key
        are below their limits (a key's limit: its own, else the type's default);
        otherwise the task is parked as for the type's limit. A task without a key
        is only under the type's limit. Raising or removing a limit wakes parked
        tasks that may now start (see :meth:`finish`).
        """

    async def key_limits(self) -> dict[str, dict[str, int]]:
        """``{type: {key: limit}}``; the default of a type's keys is under ``"*"``."""

    async def set_paused(self, task_type: str, paused: bool) -> bool:
        """Pause (or resume) a type: while it is paused, :meth:`claim` starts none of
        its tasks (each is parked, as at a limit of 0), whatever its limit, which is
        kept; running tasks finish. Resuming wakes the parked ones that its limits let
        start. True when this changed the type's state (False: it already was so)."""

    async def paused(self) -> dict[str, float]:
        """The paused types, each with when it was paused (the store's clock)."""

    async def report_worker(self, worker: WorkerInfo, ttl: float) -> None:
        """Record a live worker (its id, host, pid, types, concurrency, running task ids,
        version), replacing its last report: ``last_seen`` is now, ``expires_at``
        ``ttl`` seconds on, ``started_at`` its first report's time (the store's
        clock, whatever the worker's)."""

    async def forget_worker(self, worker_id: str) -> None:
        """Remove a worker's record (it stopped); unknown ids are ignored."""

    async def workers(self) -> list[WorkerInfo]:
        """The workers whose last report has not expired, by id (expired ones are
        dropped, here or by :meth:`maintain`)."""

    async def set_key_weight(self, task_type: str, key: str, weight: int | None) -> None:
        """Set (or with None reset to 1) how many tasks one flow key of a type takes per
        round-robin turn of the wake-ups (see :meth:`finish`): a key of weight 3 gets
        three starts for every one of a key of weight 1 while both have tasks waiting."""

    async def key_weights(self) -> dict[str, dict[str, int]]:
        """``{type: {key: weight}}`` for the keys whose weight is not 1."""

    async def key_usage(self, task_type: str, top: int) -> list[KeyUsage]:
        """The ``top`` keys of a type with the most runs (live leases), then the most
        waiting (parked) tasks, then by name; each with its limit."""

    async def set_rate(self, task_type: str, key: str | None, rate: Rate | None) -> None:
        """Set (or with None remove) a rate limit: of the type (``key=None``), the
        default of every key of the type (``key="*"``) or one key's own.

        :meth:`claim` starts a task only while every rate over it (its type's, its
        key's) has had fewer than ``count`` starts in the last ``period`` seconds —
        counted over every worker, on the store's clock, in the claim's atomic
        step; otherwise the task is parked as for a limit. Wake-ups (a freed slot,
        :meth:`take_due`, which every worker's scheduler calls often) reserve a
        parked task the moment its rates allow it, at most
        :data:`~xqueue_core.rates.WAKE_AHEAD` seconds ahead, and make it due then.
        A change applies to the next start; raising or removing a rate wakes parked
        tasks that may now start.
        """

    async def rates(self) -> dict[str, dict[str, Rate]]:
        """``{type: {target: rate}}``: the type's own under ``""``, the default of its
        keys under ``"*"``, single keys under their names."""

    async def announce(
        self,
        worker_id: str,
        task_types: Sequence[str],
        defaults: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Record that a worker handles these types (refreshes their last-seen time).

        ``defaults`` maps a type to its handler's defaults; they are kept so a
        submitter without the handler (CLI, API) applies them too.
        """

    async def known_types(self) -> list[TypeInfo]:
        """Every type some worker has announced, with when it was last seen."""

    async def maintain(self, max_redeliveries: int) -> list[TaskEvent]:
        """Periodic upkeep, safe to run from many processes at once.

        Overdue pending tasks become ``timeout``; ``processing`` tasks whose lease
        expired go back to ``pending`` (or ``failed`` after ``max_redeliveries``
        lost runs); terminal tasks past their retention are deleted, reported as
        events of kind ``"purged"``.
        """

    async def event_cursor(self) -> str:
        """The cursor of the newest event in the log (``"0"`` when it is empty):
        ``read_events(event_cursor())`` then sees exactly the events written later."""

    async def read_events(
        self, after: str | None, limit: int, timeout: float
    ) -> list[tuple[str, TaskEvent]]:
        """Events after cursor ``after``, waiting up to ``timeout`` for the first.

        ``after=None`` means from now on (only events written after the call);
        ``"0"`` means from the oldest event the log still keeps. Returns
        ``(cursor, event)`` pairs in order; pass the last cursor to continue.
        """


@runtime_checkable
class PublishingStore(Protocol):
    """Optional: a store that can also put new tasks' messages on a given broker,
    in the same atomic step as creating them (a Redis store and a Redis Streams
    broker on one server). The submit then needs one round trip instead of two,
    and has no window in which a task exists without its message."""

    def publishes_for(self, broker: Broker) -> bool:
        """Whether :meth:`create_and_publish` can publish to ``broker``."""

    async def create_and_publish(
        self, tasks: Sequence[Task], publish_grace: float, broker: Broker
    ) -> list[tuple[Task, bool]]:
        """:meth:`Store.create`, and for every new task that is due now, its message
        published on ``broker`` as :meth:`Broker.publish` would (no
        :meth:`Store.mark_queued` needed). Delayed tasks are left to the scheduler."""


@runtime_checkable
class DependencyStore(Protocol):
    """Optional store role: tasks that wait for others (DESIGN §7.2,
    :mod:`xqueue_core.workflows`).

    :meth:`Store.create` takes tasks with ``depends_on`` (parent ids, each an
    existing task or one earlier in the same call; an unknown one refuses the
    whole call with :class:`~xqueue_core.errors.ValidationError`, nothing stored).
    Such a task is created ``waiting`` while any parent has not ended, with no
    message, no queue timeout running and nothing due. The terminal transition of
    its last open parent, in the same atomic step, releases it: ``pending`` and
    due at once (its queue timeout starts then) when every parent succeeded or
    its ``on_parent_failure`` is ``run``; else ``canceled``, with the error
    ``parent <id> ended <status>`` (the first that did not succeed), which
    releases its own children in turn. A parent ended before the child was
    created counts as ended. Cancel of a waiting task ends it at once. Store work
    per release is O(1) per child: no scan of a child's other parents.
    """

    async def workflow_tasks(self, workflow_id: str, after: str | None, limit: int) -> Page:
        """The members of a workflow (tasks created with its id in ``workflow``), by
        id, ``limit`` at a time from after ``after``; ``next_cursor`` for the rest."""

    async def parent_results(
        self, task_id: str, offset: int, limit: int
    ) -> tuple[dict[str, Any], int | None]:
        """One page of a task's parents' results, in ``depends_on`` order from
        ``offset`` (id → result, None for a parent with none or no longer kept),
        and the offset of the next page (None: that was the last)."""


@runtime_checkable
class TerminalWaitingStore(Protocol):
    """Optional: a store that tells a waiting client when one task ends, so the
    client does not follow the whole event log (the Redis store). The core's
    :meth:`~xqueue_core.XQueue.wait` without ``on_change`` uses it: the client is
    woken once, by the task's end, with the final record."""

    async def wait_terminal(self, task_id: str, timeout: float) -> Task | None:
        """The task's record once it is terminal, or as it was when the call began
        if it did not end within ``timeout`` seconds; None when there is no such
        task. A task that ends between the read and the wait is not missed."""


@runtime_checkable
class ScheduleStore(Protocol):
    """Optional store role: periodic schedules (DESIGN §7.1, :mod:`xqueue_core.schedules`).

    The store keeps each schedule's definition and its next tick, and fires ticks by
    compare-and-set (:meth:`fire_schedules`), so a tick fires exactly once however
    many processes tick, on the store's clock.
    """

    async def put_schedule(
        self,
        schedule: Schedule,
        next_at: float,
        *,
        create: bool = False,
        code_hash: str | None = None,
    ) -> bool:
        """Store a schedule's definition; with ``create``, only if no schedule has its
        name (False then, and nothing changes). A new schedule's next tick is
        ``next_at``; an existing one's moves to ``next_at`` only forward, unless its
        timing (``cron``, ``every``, ``tz``) changed — never to a tick at or before
        its last fired one — so an upsert racing a fire cannot fire a tick twice.
        ``code_hash`` records which code declaration the definition came from."""

    async def get_schedule(self, name: str) -> ScheduleState | None:
        """One schedule and its state, or None."""

    async def list_schedules(self) -> list[ScheduleState]:
        """Every schedule, by name."""

    async def delete_schedule(self, name: str) -> bool:
        """Remove a schedule (its fired tasks stay); False if there was none."""

    async def due_schedules(self, limit: int) -> tuple[float, list[ScheduleState]]:
        """The store's clock now, and up to ``limit`` enabled schedules whose next tick
        has come, the longest due first."""

    async def fire_schedules(self, fires: Sequence[TickFire]) -> list[list[Task] | None]:
        """Fire the due ticks of some schedules, in one round trip; per schedule, in
        the order given: the tasks created, or None when its next tick was no longer
        ``expected_next`` or it was disabled (another process fired them, or it
        changed) and nothing of it changed.

        Each schedule's fire is one atomic step: its ``tasks`` (one per tick, carrying
        ``schedule`` and ``scheduled_for``) are created, pending and due for
        :meth:`Store.take_due` at once (or at their ``eta``); its next tick becomes
        ``new_next``; its last run and last task are the last task's. With
        ``overlap="skip"`` and the last fired task not yet terminal, no task is
        created (``[]``) and the next tick moves on.
        """


@runtime_checkable
class Broker(Backend, Protocol):
    """Carries task messages from submitters to workers, highest priority first.

    Delivery is at least once: a message fetched and not acknowledged is
    delivered again (after the worker dies, or a visibility timeout). The store's
    claim turns duplicates into no-ops.
    """

    async def publish(self, messages: Sequence[Message]) -> None:
        """Durably enqueue messages; returns once the broker has accepted them all."""

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        """Up to ``max_messages`` deliveries, waiting up to ``timeout`` for the first."""

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """The outcome of these deliveries is recorded; never deliver them again."""

    async def stats(self) -> dict[str, Any]:
        """Broker-side numbers (queue depth, lag per partition, ...)."""


@runtime_checkable
class Notifier(Backend, Protocol):
    """Pushes task events to the outside. It must never block or break a worker."""

    async def notify(self, events: Sequence[TaskEvent]) -> None:
        """Hand over events (in order per task). Buffer; do not wait on the network."""


Factory = Callable[[str, "Settings"], Any]


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """A named factory a plugin offers for one role and some URL schemes."""

    role: Role
    schemes: tuple[str, ...]
    factory: Factory
    description: str = ""
    install_hint: str = ""
    plugin: str = ""  # filled in by the plugin manager: which plugin registered it


class Backends(NamedTuple):
    """An open app's broker and store (:meth:`xqueue_core.XQueue.backends`)."""

    broker: Broker
    store: Store
