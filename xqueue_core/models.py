"""Task records, statuses, events and the values passed between core and backends."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload


class TaskStatus(enum.StrEnum):
    """Where a task is in its life. Terminal states never change again.

    ``waiting``: the task depends on others (``depends_on``) that have not all
    ended; the end of the last one makes it ``pending`` (or ends it, by its
    ``on_parent_failure``) in the same store step (:mod:`xqueue_core.workflows`).
    """

    WAITING = "waiting"
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {TaskStatus.SUCCESS, TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELED}
)

# Fields stored as seconds since the epoch and shown as ISO 8601 in JSON.
_TIME_FIELDS = ("created_at", "updated_at", "started_at", "completed_at", "eta", "scheduled_for")


def iso(ts: float | None) -> str | None:
    """Format an epoch timestamp as ISO 8601 UTC with milliseconds (or None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> float:
    """Parse an ISO 8601 timestamp (``Z`` or offset; naive means UTC) to epoch seconds."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@dataclass(slots=True)
class Task:
    """One task record, as kept by the store and shown by every interface.

    Times are seconds since the epoch (the store's clock). ``retry`` counts the
    attempts used so far; ``eta`` is the earliest time the task may start
    (delayed submit, or the end of a retry's backoff); ``redeliveries`` counts
    runs lost because a worker died or lost its lease.
    """

    id: str
    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    status: TaskStatus = TaskStatus.PENDING
    retry: int = 0
    max_retry: int = 0
    queue_timeout: float = 0.0
    process_timeout: float = 0.0
    created_at: float = 0.0
    updated_at: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None
    eta: float | None = None
    error: str | None = None
    worker_id: str | None = None
    result: Any = None
    progress: float | None = None
    idempotency_key: str | None = None
    redeliveries: int = 0
    key: str | None = None  # its flow key (a tenant, a customer): see :mod:`xqueue_core.flow`
    schedule: str | None = None  # the schedule that fired it (:mod:`xqueue_core.schedules`)
    scheduled_for: float | None = None  # the tick it was fired for
    depends_on: list[str] | None = None  # parents: it waits for them (xqueue_core.workflows)
    on_parent_failure: str | None = None  # "cancel" (default with parents) or "run"
    workflow: str | None = None  # the workflow it is a member of (xqueue_core.workflows)
    replay_of: str | None = None  # the dead task it replays (xqueue_core.replay)
    replayed_by: str | None = None  # the task that replays it (set once, by the store)

    def to_dict(self) -> dict[str, Any]:
        """The task as JSON-ready data (the object the REST API and ``--json`` show)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _TIME_FIELDS:
                value = iso(value)
            elif f.name == "status":
                value = str(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        """Inverse of :meth:`to_dict` (accepts epoch numbers or ISO strings for times)."""
        kwargs: dict[str, Any] = {}
        names = {f.name for f in dataclasses.fields(cls)}
        for key, value in data.items():
            if key not in names:
                continue
            if key in _TIME_FIELDS and isinstance(value, str):
                value = parse_iso(value)
            elif key == "status":
                value = TaskStatus(value)
            kwargs[key] = value
        return cls(**kwargs)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One state change or progress report of a task (DESIGN §5)."""

    task_id: str
    type: str
    status: TaskStatus
    retry: int
    error: str | None
    progress: float | None
    worker_id: str | None
    timestamp: float
    kind: str = "status"  # "status" for a transition, "progress" for a progress report

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "type": self.type,
            "status": str(self.status),
            "retry": self.retry,
            "error": self.error,
            "progress": self.progress,
            "worker_id": self.worker_id,
            "timestamp": iso(self.timestamp),
            "kind": self.kind,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskEvent:
        ts = data["timestamp"]
        return cls(
            task_id=data["task_id"],
            type=data["type"],
            status=TaskStatus(data["status"]),
            retry=int(data.get("retry", 0)),
            error=data.get("error"),
            progress=data.get("progress"),
            worker_id=data.get("worker_id"),
            timestamp=parse_iso(ts) if isinstance(ts, str) else float(ts),
            kind=data.get("kind", "status"),
        )

    @classmethod
    def of(cls, task: Task, kind: str = "status") -> TaskEvent:
        """The event describing ``task`` as it is now."""
        return cls(
            task_id=task.id,
            type=task.type,
            status=task.status,
            retry=task.retry,
            error=task.error,
            progress=task.progress,
            worker_id=task.worker_id,
            timestamp=task.updated_at,
            kind=kind,
        )


class LazyEvents(Sequence[TaskEvent]):
    """Events kept as a backend returned them, decoded on first use.

    Store calls on the worker's hot path return the events they caused; when no
    hook or notifier listens, nobody reads them, and decoding them would be waste.
    """

    __slots__ = ("_decode", "_decoded", "_raw")

    def __init__(self, decode: Callable[[Any], TaskEvent], raw: Iterable[Any] = ()) -> None:
        self._raw: list[Any] = list(raw)
        self._decode = decode
        self._decoded: list[TaskEvent] | None = None

    def add(self, raw: Iterable[Any]) -> None:
        """Append more events in their raw form."""
        self._raw.extend(raw)
        self._decoded = None

    def _events(self) -> list[TaskEvent]:
        if self._decoded is None:
            self._decoded = [self._decode(item) for item in self._raw]
        return self._decoded

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, index: int) -> TaskEvent: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[TaskEvent]: ...

    def __getitem__(self, index: int | slice) -> TaskEvent | Sequence[TaskEvent]:
        return self._events()[index]

    def __iter__(self) -> Iterator[TaskEvent]:
        return iter(self._events())

    def __repr__(self) -> str:
        return f"LazyEvents({len(self._raw)} events)"


@dataclass(frozen=True, slots=True)
class Message:
    """What the broker carries: just enough to route and order a task."""

    task_id: str
    type: str
    priority: int = 0


@dataclass(slots=True)
class Delivery:
    """A message handed to a worker; ``handle`` is the broker's own bookkeeping."""

    message: Message
    handle: Any = None


class ClaimOutcome(enum.StrEnum):
    """What a claim of a delivered message decided."""

    STARTED = "started"  # the caller now runs the task under a lease
    DEFERRED = "deferred"  # the type is at its limit; the task is parked in the store
    GONE = "gone"  # nothing to run: finished, canceled, timed out, not due, or running elsewhere


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to one claim request."""

    task_id: str
    outcome: ClaimOutcome
    task: Task | None = None


class FinishKind(enum.StrEnum):
    """How a run ended, as reported by the worker to the store."""

    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELED = "canceled"
    RETRY = "retry"  # back to pending, to run again after ``retry_delay``
    RELEASE = "release"  # graceful shutdown: back to pending without using an attempt


@dataclass(frozen=True, slots=True)
class Finish:
    """One finished run, reported in a batch to :meth:`Store.finish`."""

    task_id: str
    worker_id: str
    kind: FinishKind
    error: str | None = None
    result: Any = None
    retry_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The store's answer to a lease renewal."""

    cancel_requested: frozenset[str] = frozenset()
    lost: frozenset[str] = frozenset()  # no longer ours: finished elsewhere or taken over


class CancelOutcome(enum.StrEnum):
    CANCELED = "canceled"  # it was pending; it will never run
    REQUESTED = "requested"  # it is running; its worker stops it within a second
    FINISHED = "finished"  # already terminal; nothing changed


@dataclass(frozen=True, slots=True)
class CancelResult:
    outcome: CancelOutcome
    task: Task


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a task listing; pass ``next_cursor`` to get the next one."""

    tasks: list[Task]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class KeyUsage:
    """One flow key of a type: its runs with a live lease, its tasks waiting for a
    slot (parked in the store), and its limit (``None``: only the type's)."""

    key: str
    running: int
    waiting: int
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """A task type some worker announced, when it was last seen, and its handler's
    defaults for tasks submitted without them (``max_retry``, ``queue_timeout``,
    ``process_timeout``, ``priority``)."""

    name: str
    last_seen: float
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A live worker as it last reported itself (:mod:`xqueue_core.presence`): its id,
    host and pid, the task types it runs, its concurrency, the ids of the tasks it
    runs, its xqueue version, and — set by the store, on its clock — when it first
    reported (``started_at``), last reported (``last_seen``) and when it counts as
    gone unless it reports again (``expires_at``)."""

    id: str
    host: str
    pid: int
    types: tuple[str, ...]
    concurrency: int
    running: tuple[str, ...] = ()
    version: str = ""
    started_at: float = 0.0
    last_seen: float = 0.0
    expires_at: float = 0.0

    def to_record(self) -> dict[str, Any]:
        """The record a store keeps (times as epoch seconds)."""
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "types": list(self.types),
            "concurrency": self.concurrency,
            "running": list(self.running),
            "version": self.version,
            "started_at": self.started_at,
            "last_seen": self.last_seen,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> WorkerInfo:
        """Back from :meth:`to_record` (an empty list may come back as ``{}``)."""
        return cls(
            id=str(data["id"]),
            host=str(data["host"]),
            pid=int(data["pid"]),
            types=tuple(data.get("types") or ()),
            concurrency=int(data["concurrency"]),
            running=tuple(data.get("running") or ()),
            version=str(data.get("version", "")),
            started_at=float(data.get("started_at", 0.0)),
            last_seen=float(data.get("last_seen", 0.0)),
            expires_at=float(data.get("expires_at", 0.0)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The worker as JSON-ready data (REST and ``--json``; times in ISO 8601)."""
        out = self.to_record()
        for name in ("started_at", "last_seen", "expires_at"):
            out[name] = iso(out[name])
        return out
