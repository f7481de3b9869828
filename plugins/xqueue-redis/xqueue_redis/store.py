"""RedisStore: task records, leases, per-type limits and the event log on Redis.

Every transition is one Lua script run on the server (EVALSHA; loaded on first
use), judged by the server's ``TIME``: no client clock, no read-modify-write
from the client. Batches (claim of many ids, finish of many runs) are one
script call each. The semantics mirror the embedded
:class:`xqueue_core.sqlite.store.SqliteStore` method by method.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from xqueue_core.debounce import first_start
from xqueue_core.errors import ValidationError
from xqueue_core.interfaces import Broker, Store
from xqueue_core.models import (
    CancelOutcome,
    CancelResult,
    Claim,
    ClaimOutcome,
    Finish,
    Heartbeat,
    KeyUsage,
    LazyEvents,
    Message,
    Page,
    Task,
    TaskEvent,
    TaskStatus,
    TypeInfo,
    WorkerInfo,
)
from xqueue_core.rates import Rate
from xqueue_core.rates import decode as decode_rate
from xqueue_core.rates import encode as encode_rate
from xqueue_core.schedules import Schedule, ScheduleState, TickFire
from xqueue_core.schedules import decode as decode_schedule
from xqueue_core.schedules import encode as encode_schedule
from xqueue_core.schedules import timing as schedule_timing
from xqueue_core.settings import Settings
from xqueue_core.workflows import PARTLY_KEYED

from .codec import (
    event_from_json,
    event_from_stream,
    events_from,
    json_arg,
    pairs,
    task_args,
    task_from_json,
)
from .connection import Connection
from .keys import Keys
from .url import parse_url

if TYPE_CHECKING:
    from .broker_streams import StreamLayout

DEFAULT_KEY = "*"  # where a type's key limits keep the default of every key
BATCH = 1000  # items per script call, so no single script holds Redis for long
MAINTAIN_BATCH = 1000


def _chunks(items: Sequence[Any], size: int = BATCH) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class RedisStore(Store):
    """The store on Redis; URL ``redis://[user:password@]host:port/db?prefix=app``."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self.redis_url = parse_url(url)
        self.keys = Keys(self.redis_url.prefix)
        self.conn = Connection(self.redis_url, self.keys)

    async def open(self) -> None:
        await self.conn.open()

    async def close(self) -> None:
        await self.conn.close()

    async def ping(self) -> None:
        await self.conn.command("ping", "PING")

    async def now(self) -> float:
        seconds, micros = await self.conn.command("time", "TIME")
        return float(seconds) + float(micros) / 1_000_000

    @property
    def _retention(self) -> str:
        """How long ended tasks are kept, as the scripts read it: result_ttl/dead_ttl."""
        return f"{float(self.settings.result_ttl)!r}/{float(self.settings.dead_ttl)!r}"

    # -- submit and publish --------------------------------------------------

    async def create(self, tasks: Sequence[Task], publish_grace: float) -> list[tuple[Task, bool]]:
        return await self._create(tasks, publish_grace, None)

    def publishes_for(self, broker: Broker) -> bool:
        """True for a Redis Streams broker on the same server and database."""
        from .broker import RedisBroker

        return (
            isinstance(broker, RedisBroker)
            and broker.redis_url.connect_url == self.redis_url.connect_url
            and broker.layout.keys.base == self.keys.base  # one hash slot, one script
        )

    async def create_and_publish(
        self, tasks: Sequence[Task], publish_grace: float, broker: Broker
    ) -> list[tuple[Task, bool]]:
        from .broker import RedisBroker

        assert isinstance(broker, RedisBroker) and self.publishes_for(broker)
        return await self._create(tasks, publish_grace, broker.layout)

    async def _create(
        self, tasks: Sequence[Task], publish_grace: float, layout: StreamLayout | None
    ) -> list[tuple[Task, bool]]:
        out: list[tuple[Task, bool]] = []
        streams: list[str] = list(layout.streams) if layout is not None else []
        # a graph goes in one script: all its tasks or (an unknown parent) none
        whole = any(t.depends_on or t.workflow for t in tasks)
        chunks = [tasks] if whole else _chunks(tasks)
        for chunk in chunks:
            # one JSON argument for the chunk: far less for the client to encode
            # (and for Redis to parse) than ten arguments per task
            rows: list[list[Any]] = [task_args(task) for task in chunk]
            if layout is not None:  # where each message goes: its band's stream, KEYS[1 + n]
                for row, task in zip(rows, chunk, strict=True):
                    row.append(layout.stream_number(task.priority))
            args = [repr(float(publish_grace)), json_arg(rows), self._retention]
            (now_text, results, *unknown), _ = await self.conn.script("create", args, streams)
            if not results and not unknown[0]:
                raise ValidationError(PARTLY_KEYED)
            if not results:
                raise ValidationError(f"depends_on: no task {unknown[0]!r} in this store")
            now = float(now_text)
            for task, row in zip(chunk, results, strict=True):
                flag = int(row[0])
                if flag == 1:
                    task.created_at = task.updated_at = now
                    task.status = TaskStatus.PENDING
                    out.append((task, True))
                else:
                    stored = task_from_json(row[1])
                    assert stored is not None
                    out.append((stored, flag in (2, 3)))
        return out

    async def debounce(
        self, task: Task, window: float, max_wait: float | None
    ) -> tuple[Task, bool]:
        if not task.key:
            raise ValueError("a debounced task needs a flow key")
        args = [json_arg(task_args(task)), repr(float(window))]
        args.append("" if max_wait is None else repr(float(max_wait)))
        (flag, value), _ = await self.conn.script("debounce", args)
        if int(flag) == 1:
            task.created_at = task.updated_at = float(value)
            task.eta = first_start(float(value), window, max_wait)
            task.status = TaskStatus.PENDING
            return task, True
        merged = task_from_json(value)
        assert merged is not None
        return merged, False

    async def mark_queued(self, task_ids: Sequence[str], recheck: float = 0.0) -> None:
        for chunk in _chunks(task_ids):
            await self.conn.script("mark_queued", [repr(float(recheck)), *chunk])

    async def mark_unqueued(self, task_ids: Sequence[str]) -> None:
        for chunk in _chunks(task_ids):
            await self.conn.script("mark_unqueued", chunk)

    async def discard(self, task_ids: Sequence[str]) -> None:
        for chunk in _chunks(task_ids):
            await self.conn.script("discard", chunk)

    async def take_due(self, limit: int, hold: float) -> list[Message]:
        rows, _ = await self.conn.script("take_due", [int(limit), repr(float(hold))])
        return [Message(r[0], r[1], int(r[2] or 0)) for r in rows]

    # -- running ------------------------------------------------------------

    async def claim(
        self, task_ids: Sequence[str], worker_id: str, lease: float
    ) -> tuple[list[Claim], Sequence[TaskEvent]]:
        claims: list[Claim] = []
        events = LazyEvents(event_from_json)
        for chunk in _chunks(task_ids):
            args = [
                worker_id,
                repr(float(lease)),
                self.settings.max_redeliveries,
                self._retention,
                *chunk,
            ]
            rows, raw_events = await self.conn.script("claim", args)
            events.add(raw_events or ())
            for task_id, row in zip(chunk, rows, strict=True):
                outcome = ClaimOutcome(row[0])
                task = task_from_json(row[1]) if outcome == ClaimOutcome.STARTED else None
                claims.append(Claim(task_id, outcome, task))
        return claims, events

    async def heartbeat(self, worker_id: str, task_ids: Sequence[str], lease: float) -> Heartbeat:
        if not task_ids:
            return Heartbeat()
        cancel: set[str] = set()
        lost: set[str] = set()
        for chunk in _chunks(task_ids):
            (wanted, gone), _ = await self.conn.script(
                "heartbeat", [worker_id, repr(float(lease)), *chunk]
            )
            cancel.update(wanted)
            lost.update(gone)
        return Heartbeat(cancel_requested=frozenset(cancel), lost=frozenset(lost))

    async def finish(self, finishes: Sequence[Finish]) -> tuple[list[bool], Sequence[TaskEvent]]:
        applied: list[bool] = []
        events = LazyEvents(event_from_json)
        for chunk in _chunks(finishes):
            runs = [
                [
                    f.task_id,
                    f.worker_id,
                    str(f.kind),
                    f.error if f.error is not None else False,
                    json_arg(f.result).decode() if f.result is not None else False,
                    float(f.retry_delay),
                ]
                for f in chunk
            ]
            flags, raw_events = await self.conn.script("finish", [self._retention, json_arg(runs)])
            applied.extend(bool(flag) for flag in flags)
            events.add(raw_events or ())
        return applied, events

    async def report_progress(
        self, task_id: str, worker_id: str, progress: float
    ) -> TaskEvent | None:
        stored, raw_events = await self.conn.script(
            "progress", [task_id, worker_id, repr(float(progress))]
        )
        return events_from(raw_events)[-1] if stored else None

    # -- reading and cancelling ---------------------------------------------

    async def get(self, task_id: str) -> Task | None:
        flat, _ = await self.conn.script("get", [task_id, self._retention])
        return task_from_json(flat)

    async def wait_terminal(self, task_id: str, timeout: float) -> Task | None:
        """Read the task, marking it as waited on; if it has not ended, wait up to
        ``timeout`` for the notice its end appends to ``done:{id}`` (read from the
        start: a notice written in between is not missed)."""
        flat, _ = await self.conn.script("get", [task_id, self._retention, "1"])
        task = task_from_json(flat)
        if task is None or task.terminal or timeout <= 0:
            return task
        block = max(1, int(min(timeout, self._block_slice) * 1000))
        argv = ["XREAD", "COUNT", 1, "BLOCK", block, "STREAMS", self.keys.done(task_id), "0-0"]
        reply = await self.conn.blocking_read("wait", argv, block / 1000)
        if not reply:
            return task
        _, fields = reply[0][1][0]
        return task_from_json(pairs(fields)["task"])

    @property
    def _block_slice(self) -> float:
        """The longest single blocking read: shorter than the socket timeout."""
        return max(0.05, min(self.redis_url.socket_timeout - 0.5, 0.5 * 60))

    async def list_tasks(
        self,
        status: TaskStatus | None = None,
        type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        wanted = None if status is None else TaskStatus(status)
        index = self.keys.index(wanted, type)
        upper = f"({cursor}" if cursor else "+"
        args = [index or "", upper, int(limit) + 1, self._retention, MAINTAIN_BATCH]
        args += ["", ""] if index is not None else [str(wanted), type or ""]
        reply = await self._repairing("list", args)
        found = [task_from_json(row) for row in reply[1]]
        tasks = [t for t in found[:limit] if t is not None]
        next_cursor = tasks[-1].id if len(found) > limit and tasks else None
        return Page(tasks, next_cursor)

    async def cancel(self, task_id: str) -> tuple[CancelResult | None, list[TaskEvent]]:
        reply, raw_events = await self.conn.script("cancel", [task_id, self._retention])
        events = events_from(raw_events)
        if reply[0] == "none":
            return None, events
        task = task_from_json(reply[1])
        assert task is not None
        return CancelResult(CancelOutcome(reply[0]), task), events

    async def _repairing(self, op: str, args: Sequence[Any]) -> list[Any]:
        """Run a read script that first times out overdue pending tasks (as :meth:`get`
        does), so no read shows one as pending; again while a batch of them was left."""
        while True:
            reply, _ = await self.conn.script(op, args)
            if int(reply[0]) == 0:
                return list(reply)

    async def counts(self) -> dict[str, dict[str, int]]:
        _, by_status, by_type = await self._repairing("counts", [self._retention, MAINTAIN_BATCH])
        return {
            "status": {k: int(v) for k, v in pairs(by_status).items()},
            "type": {k: int(v) for k, v in pairs(by_type).items()},
        }

    # -- limits and types ---------------------------------------------------

    async def set_limit(self, task_type: str, limit: int | None) -> None:
        await self.conn.script("set_limit", [task_type, "" if limit is None else int(limit)])

    async def limits(self) -> dict[str, int]:
        raw = await self.conn.command("limits", "HGETALL", self.keys.limits)
        return {k: int(v) for k, v in pairs(raw).items()}

    async def report_worker(self, worker: WorkerInfo, ttl: float) -> None:
        record = orjson.dumps(worker.to_record()).decode()
        await self.conn.script("workers", ["report", record, repr(float(ttl))])

    async def forget_worker(self, worker_id: str) -> None:
        await self.conn.script("workers", ["forget", worker_id])

    async def workers(self) -> list[WorkerInfo]:
        records, _ = await self.conn.script("workers", ["list"])
        return [WorkerInfo.from_record(orjson.loads(r)) for r in records if r]

    async def set_paused(self, task_type: str, paused: bool) -> bool:
        changed, _ = await self.conn.script("paused", [task_type, "1" if paused else ""])
        return bool(changed)

    async def paused(self) -> dict[str, float]:
        raw = await self.conn.command("paused", "HGETALL", self.keys.paused)
        return {k: float(v) for k, v in pairs(raw).items()}

    async def running(self) -> dict[str, int]:
        flat, _ = await self.conn.script("running", [])
        return {k: int(v) for k, v in pairs(flat).items()}

    async def set_key_limit(self, task_type: str, key: str | None, limit: int | None) -> None:
        await self.conn.script(
            "set_key_limit", [task_type, key or "", "" if limit is None else int(limit)]
        )

    async def key_limits(self) -> dict[str, dict[str, int]]:
        flat, _ = await self.conn.script("key_limits", [])
        return {
            task_type: {k: int(v) for k, v in pairs(limits).items()}
            for task_type, limits in pairs(flat).items()
        }

    async def set_rate(self, task_type: str, key: str | None, rate: Rate | None) -> None:
        await self.conn.script(
            "set_rate", [task_type, key or "", "" if rate is None else encode_rate(rate)]
        )

    async def rates(self) -> dict[str, dict[str, Rate]]:
        flat, _ = await self.conn.script("rates", [])
        return {
            task_type: {k: decode_rate(v) for k, v in pairs(rates).items()}
            for task_type, rates in pairs(flat).items()
            if rates
        }

    async def set_key_weight(self, task_type: str, key: str, weight: int | None) -> None:
        await self.conn.script(
            "set_key_weight", [task_type, key, "" if weight is None else int(weight)]
        )

    async def key_weights(self) -> dict[str, dict[str, int]]:
        flat, _ = await self.conn.script("key_weights", [])
        return {
            task_type: {k: int(v) for k, v in pairs(weights).items()}
            for task_type, weights in pairs(flat).items()
        }

    # -- task dependencies (the DependencyStore role) ---------------------------

    async def workflow_tasks(self, workflow_id: str, after: str | None, limit: int) -> Page:
        (rows, more), _ = await self.conn.script(
            "workflow_tasks", [workflow_id, after or "", str(int(limit))]
        )
        tasks = [t for t in (task_from_json(r) for r in rows) if t is not None]
        return Page(tasks, tasks[-1].id if int(more) and tasks else None)

    async def parent_results(
        self, task_id: str, offset: int, limit: int
    ) -> tuple[dict[str, Any], int | None]:
        (ids, results, more), _ = await self.conn.script(
            "parent_results", [task_id, str(int(offset)), str(int(limit))]
        )
        out = {p: None if not r else orjson.loads(r) for p, r in zip(ids, results, strict=True)}
        return out, None if int(more) < 0 else int(more)

    # -- periodic schedules (the ScheduleStore role) ----------------------------

    async def put_schedule(
        self,
        schedule: Schedule,
        next_at: float,
        *,
        create: bool = False,
        code_hash: str | None = None,
    ) -> bool:
        args = [
            schedule.name,
            encode_schedule(schedule),
            schedule_timing(schedule),
            "1" if schedule.enabled else "0",
            repr(float(next_at)),
            "1" if create else "0",
            code_hash or "",
            schedule.overlap,
        ]
        stored, _ = await self.conn.script("put_schedule", args)
        return bool(int(stored))

    async def _schedules(self, *args: Any) -> tuple[float, list[ScheduleState]]:
        (now, rows), _ = await self.conn.script("schedules", list(args))
        return float(now), [_schedule_state(pairs(row)) for row in rows]

    async def get_schedule(self, name: str) -> ScheduleState | None:
        _, found = await self._schedules("one", name)
        return found[0] if found else None

    async def list_schedules(self) -> list[ScheduleState]:
        _, found = await self._schedules("all")
        return found

    async def delete_schedule(self, name: str) -> bool:
        gone, _ = await self.conn.script("delete_schedule", [name])
        return bool(int(gone))

    async def due_schedules(self, limit: int) -> tuple[float, list[ScheduleState]]:
        return await self._schedules("due", int(limit))

    async def fire_schedules(self, fires: Sequence[TickFire]) -> list[list[Task] | None]:
        batch = [
            [
                f.name,
                repr(float(f.expected_next)),
                repr(float(f.new_next)),
                [task_args(t) for t in f.tasks],
            ]
            for f in fires
        ]
        reply, _ = await self.conn.script("fire_schedules", [json_arg(batch)])
        now = float(reply[0])
        out: list[list[Task] | None] = []
        for fire, created in zip(fires, reply[1], strict=True):
            if int(created) < 0:
                out.append(None)
                continue
            fired = list(fire.tasks)[: int(created)]
            for task in fired:
                task.created_at = task.updated_at = now
                task.status = TaskStatus.PENDING
            out.append(fired)
        return out

    async def key_usage(self, task_type: str, top: int) -> list[KeyUsage]:
        (flat, raw_limits), _ = await self.conn.script("key_usage", [task_type])
        limits = {k: int(v) for k, v in pairs(raw_limits).items()}
        default = limits.get(DEFAULT_KEY)
        rows = [(flat[i], int(flat[i + 1]), int(flat[i + 2])) for i in range(0, len(flat), 3)]
        # busiest first, then by name in byte order (as Redis orders keys)
        rows.sort(key=lambda row: (-row[1], -row[2], row[0].encode()))
        return [
            KeyUsage(key, running, waiting, limits.get(key, default))
            for key, running, waiting in rows[: max(0, int(top))]
        ]

    async def announce(
        self,
        worker_id: str,
        task_types: Sequence[str],
        defaults: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        if task_types:
            pairs: list[str] = []
            for name in task_types:
                pairs += [name, orjson.dumps((defaults or {}).get(name, {})).decode()]
            await self.conn.script("announce", [worker_id, *pairs])

    async def known_types(self) -> list[TypeInfo]:
        replies = await self.conn.commands(
            "types", [["HGETALL", self.keys.types], ["HGETALL", self.keys.type_defaults]]
        )
        seen, defaults = (pairs(self.conn.answer("types", r)) for r in replies)
        return [
            TypeInfo(
                name, float(seen[name]), orjson.loads(defaults[name]) if name in defaults else {}
            )
            for name in sorted(seen)
        ]

    # -- upkeep and events --------------------------------------------------

    async def maintain(self, max_redeliveries: int) -> list[TaskEvent]:
        _, raw_events = await self.conn.script(
            "maintain", [int(max_redeliveries), self._retention, MAINTAIN_BATCH]
        )
        return events_from(raw_events)

    async def event_cursor(self) -> str:
        events = self.keys.events
        last = await self.conn.command("events", "XREVRANGE", events, "+", "-", "COUNT", 1)
        return str(last[0][0]) if last else "0"

    async def read_events(
        self, after: str | None, limit: int, timeout: float
    ) -> list[tuple[str, TaskEvent]]:
        stream = self.keys.events
        if after is None:
            after = await self.event_cursor()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout
        # Block in slices shorter than the socket timeout, so a long wait is not a timeout.
        slice_ = self._block_slice
        while True:
            remaining = give_up - loop.time()
            block = int(min(remaining, slice_) * 1000) if remaining > 0 else None
            argv: list[Any] = ["XREAD", "COUNT", int(limit)]
            if block:
                argv += ["BLOCK", block]
            reply = await self.conn.blocking_read(
                "events", [*argv, "STREAMS", stream, after], (block or 0) / 1000
            )
            entries = reply[0][1] if reply else []
            if entries or remaining <= 0 or loop.time() >= give_up:
                return [
                    (entry_id, event_from_stream(pairs(fields))) for entry_id, fields in entries
                ]


def _schedule_state(fields: dict[str, Any]) -> ScheduleState:
    last_run = fields.get("last_run")
    return ScheduleState(
        decode_schedule(fields["definition"]),
        float(fields["next_at"]),
        None if last_run is None else float(last_run),
        fields.get("last_task_id"),
        fields.get("code_hash"),
    )
