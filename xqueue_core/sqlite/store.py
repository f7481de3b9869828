"""SqliteStore: the embedded store (task records, leases, limits, event log)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson

from ..debounce import first_start, moved_start
from ..interfaces import Store
from ..models import (
    CancelOutcome,
    CancelResult,
    Claim,
    ClaimOutcome,
    Finish,
    FinishKind,
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
from ..rates import Rate
from ..schedules import Schedule, ScheduleState, TickFire
from ..settings import Settings
from . import debounce, dependencies, schedules
from .database import OnDatabase, placeholders
from .rates import RateBook, all_rates, set_rate
from .wake import wake_parked

COLUMNS = (
    "id, type, payload, priority, status, retry, max_retry, queue_timeout, process_timeout, "
    "created_at, updated_at, started_at, completed_at, eta, error, worker_id, result, progress, "
    "idempotency_key, redeliveries, flow_key, schedule, scheduled_for, depends_on, "
    "on_parent_failure, workflow, replay_of, replayed_by"
)
EVENT_LOG_SIZE = 10_000
CANCELED_LOST = "canceled while running (its worker was lost)"


def _row_to_task(row: Sequence[Any]) -> Task:
    return Task(
        id=row[0],
        type=row[1],
        payload=orjson.loads(row[2]),
        priority=row[3],
        status=TaskStatus(row[4]),
        retry=row[5],
        max_retry=row[6],
        queue_timeout=row[7],
        process_timeout=row[8],
        created_at=row[9],
        updated_at=row[10],
        started_at=row[11],
        completed_at=row[12],
        eta=row[13],
        error=row[14],
        worker_id=row[15],
        result=None if row[16] is None else orjson.loads(row[16]),
        progress=row[17],
        idempotency_key=row[18],
        redeliveries=row[19],
        key=row[20],
        schedule=row[21],
        scheduled_for=row[22],
        depends_on=None if row[23] is None else orjson.loads(row[23]),
        on_parent_failure=row[24],
        workflow=row[25],
        replay_of=row[26],
        replayed_by=row[27],
    )


class Tx:
    """Helpers used inside one write transaction; collects the events it causes."""

    def __init__(self, conn: sqlite3.Connection, now: float, dead_ttl: float | None = None) -> None:
        self.conn = conn
        self.now = now
        self.dead_ttl = dead_ttl  # how long a task that ends failed or timeout is kept
        self.events: list[TaskEvent] = []
        self.rates = RateBook(conn, now)

    def task(self, task_id: str) -> Task | None:
        row = self.conn.execute(f"SELECT {COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return None if row is None else _row_to_task(row)

    def emit(self, task: Task, kind: str = "status") -> None:
        event = TaskEvent.of(task, kind)
        self.events.append(event)
        self.conn.execute(
            "INSERT INTO events (data) VALUES (?)", (orjson.dumps(event.to_dict()).decode(),)
        )

    def insert(self, task: Task, publish_grace: float, retention: float = 0.0) -> None:
        """Insert a new task (its created/updated time are now) and its event: pending,
        or waiting for its parents (``depends_on``), or, when a parent already ended
        other than ``success`` and it has no other to wait for, canceled (kept for
        ``retention`` seconds) unless its ``on_parent_failure`` is ``run``."""
        task.created_at = task.updated_at = self.now
        waiting_on, failed = (0, None)
        if task.depends_on is not None:
            waiting_on, failed = dependencies.attach(self, task)
        task.status = TaskStatus.WAITING if waiting_on else TaskStatus.PENDING
        deadline = self.now + task.queue_timeout if task.queue_timeout > 0 else None
        # due now: the submitter publishes it, this is the fallback if it crashes;
        # delayed: the scheduler publishes it at its eta
        publish_at: float | None = self.now + publish_grace if task.eta is None else task.eta
        if waiting_on:  # its queue timeout and publication start when it is released
            deadline = publish_at = None
        self.conn.execute(
            "INSERT INTO tasks (id, type, payload, priority, status, retry, max_retry, "
            "queue_timeout, process_timeout, created_at, updated_at, eta, "
            "idempotency_key, deadline, publish_at, flow_key, schedule, scheduled_for, "
            "depends_on, on_parent_failure, workflow, replay_of) "
            "VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                task.id,
                task.type,
                orjson.dumps(task.payload).decode(),
                task.priority,
                str(task.status),
                task.max_retry,
                task.queue_timeout,
                task.process_timeout,
                self.now,
                self.now,
                task.eta,
                task.idempotency_key,
                deadline,
                publish_at,
                task.key,
                task.schedule,
                task.scheduled_for,
                None if task.depends_on is None else orjson.dumps(task.depends_on).decode(),
                task.on_parent_failure,
                task.workflow,
                task.replay_of,
            ),
        )
        if task.replay_of is not None:  # the dead task it replays points at it, once
            self.conn.execute(
                "UPDATE tasks SET replayed_by=? WHERE id=? AND replayed_by IS NULL",
                (task.id, task.replay_of),
            )
        self.emit(task)
        if failed is not None and not waiting_on and task.on_parent_failure != "run":
            self.terminate(task, TaskStatus.CANCELED, failed, retention)

    def release(self, task: Task) -> None:
        """A waiting task's last parent ended: pending, due now (or at its eta)."""
        task.status = TaskStatus.PENDING
        task.updated_at = self.now
        deadline = self.now + task.queue_timeout if task.queue_timeout > 0 else None
        self.conn.execute(
            "UPDATE tasks SET status='pending', updated_at=?, deadline=?, publish_at=? WHERE id=?",
            (self.now, deadline, max(self.now, task.eta or self.now), task.id),
        )
        self.emit(task)

    def terminate(
        self,
        task: Task,
        status: TaskStatus,
        error: str | None,
        retention: float,
        result: Any = None,
        cascade: bool = True,
    ) -> None:
        """End a task (kept for ``retention`` seconds) and, with ``cascade``, release
        the tasks that waited for it (:func:`~xqueue_core.sqlite.dependencies.release`)."""
        if self.dead_ttl is not None and status in (TaskStatus.FAILED, TaskStatus.TIMEOUT):
            retention = self.dead_ttl  # kept for a replay
        task.status = status
        task.error = error
        task.updated_at = task.completed_at = self.now
        if status == TaskStatus.SUCCESS:
            task.result = result
            task.progress = 1.0
        self.rates.release(task.id, task.type, task.key)  # a woken task's moment is free
        self.conn.execute(
            "UPDATE tasks SET status=?, error=?, updated_at=?, completed_at=?, result=?, "
            "progress=?, deadline=NULL, publish_at=NULL, parked=0, lease_until=NULL, "
            "cancel_requested=0, expires_at=?, redeliveries=? WHERE id=?",
            (
                str(status),
                error,
                self.now,
                self.now,
                None if task.result is None else orjson.dumps(task.result).decode(),
                task.progress,
                self.now + retention,
                task.redeliveries,
                task.id,
            ),
        )
        self.emit(task)
        if cascade:
            dependencies.release(self, task, retention)

    def to_pending(self, task: Task, eta: float | None, error: str | None, retry: int) -> None:
        task.status = TaskStatus.PENDING
        task.eta = eta
        task.error = error
        task.retry = retry
        task.worker_id = None
        task.updated_at = self.now
        self.conn.execute(
            "UPDATE tasks SET status='pending', eta=?, error=?, retry=?, worker_id=NULL, "
            "updated_at=?, lease_until=NULL, cancel_requested=0, publish_at=?, "
            "redeliveries=? WHERE id=?",
            (eta, error, retry, self.now, eta or self.now, task.redeliveries, task.id),
        )
        self.emit(task)

    def sweep_parked(self) -> None:
        """Safety net behind the wake-ups: wake parked tasks of types with free tokens."""
        for (task_type,) in self.conn.execute(
            "SELECT DISTINCT type FROM tasks WHERE parked=1"
        ).fetchall():
            cap = self.limit(task_type)
            free = None if cap is None else cap - self.running(task_type)
            if free is None or free > 0:
                self.wake_parked(task_type, free)

    def wake_rated(self) -> None:
        """Wake parked tasks of rate-limited types whose rates have room again soon
        (rates free with time, not with an event)."""
        for task_type in self.rates.rated_types():
            cap = self.limit(task_type)
            free = None if cap is None else cap - self.running(task_type)
            self.wake_parked(task_type, free)

    def running(self, task_type: str) -> int:
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE status='processing' AND type=? "
                "AND lease_until > ?",
                (task_type, self.now),
            ).fetchone()[0]
        )

    def limit(self, task_type: str) -> int | None:
        """The tokens a type has in all: its limit (None: none), 0 while it is paused."""
        row = self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM paused WHERE type=?), "
            "(SELECT max_concurrency FROM limits WHERE type=?)",
            (task_type, task_type),
        ).fetchone()
        if row[0]:
            return 0
        return None if row[1] is None else int(row[1])

    def key_limit(self, task_type: str, key: str) -> int | None:
        """The limit of one key: its own, else the type's default for keys."""
        row = self.conn.execute(
            "SELECT max_concurrency FROM key_limits WHERE type=? AND key IN (?, '') "
            "ORDER BY key DESC LIMIT 1",
            (task_type, key),
        ).fetchone()
        return None if row is None else int(row[0])

    def running_key(self, task_type: str, key: str) -> int:
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE status='processing' AND type=? "
                "AND flow_key=? AND lease_until > ?",
                (task_type, key, self.now),
            ).fetchone()[0]
        )

    def key_free(self, task_type: str, key: str | None) -> int | None:
        """Slots a key has free (None: no limit); a task without a key has no key limit."""
        if not key:
            return None
        cap = self.key_limit(task_type, key)
        return None if cap is None else cap - self.running_key(task_type, key)

    def wake_parked(self, task_type: str, count: int | None) -> None:
        """Make up to ``count`` parked tasks of the type (all that may start when None)
        due: see :func:`~xqueue_core.sqlite.wake.wake_parked`."""
        wake_parked(self, task_type, count)


class SqliteStore(OnDatabase, Store):
    """The store of the embedded backend; shares its file with :class:`SqliteBroker`."""

    def __init__(self, url: str, settings: Settings) -> None:
        self._attach(url)
        self.settings = settings

    async def now(self) -> float:
        return time.time()

    async def _write(self, fn: Any) -> Any:
        def tx(conn: sqlite3.Connection) -> Any:
            t = Tx(conn, time.time(), self.settings.dead_ttl)
            out = fn(t)
            t.rates.flush()
            return out

        return await self.db.write(tx)

    # -- submit and publish --------------------------------------------------

    async def create(self, tasks: Sequence[Task], publish_grace: float) -> list[tuple[Task, bool]]:
        retention = self.settings.result_ttl

        def tx(t: Tx) -> list[tuple[Task, bool]]:
            dependencies.check_whole_workflows(t.conn, tasks)
            out: list[tuple[Task, bool]] = []
            for task in tasks:
                if task.idempotency_key is not None:
                    row = t.conn.execute(
                        f"SELECT {COLUMNS} FROM tasks WHERE idempotency_key=?",
                        (task.idempotency_key,),
                    ).fetchone()
                    if row is not None:
                        out.append((_row_to_task(row), False))
                        continue
                t.insert(task, publish_grace, retention)
                out.append((task, True))
            return out

        result: list[tuple[Task, bool]] = await self._write(tx)
        return result

    async def debounce(
        self, task: Task, window: float, max_wait: float | None
    ) -> tuple[Task, bool]:
        if not task.key:
            raise ValueError("a debounced task needs a flow key")
        key = task.key

        def tx(t: Tx) -> tuple[Task, bool]:
            found = debounce.waiting(t.conn, task.type, key, t.now)
            if found is not None:
                task_id, first = found
                eta = moved_start(t.now, first, window, max_wait)
                t.conn.execute(
                    "UPDATE tasks SET payload=?, eta=?, publish_at=?, updated_at=? WHERE id=?",
                    (orjson.dumps(task.payload).decode(), eta, eta, t.now, task_id),
                )
                merged = t.task(task_id)
                assert merged is not None
                return merged, False
            task.eta = first_start(t.now, window, max_wait)
            t.insert(task, 0.0)
            debounce.open_window(t.conn, task.type, key, task.id, t.now)
            return task, True

        result: tuple[Task, bool] = await self._write(tx)
        return result

    async def mark_queued(self, task_ids: Sequence[str], recheck: float = 0.0) -> None:
        if not task_ids:
            return

        def tx(t: Tx) -> None:
            again = t.now + recheck if recheck > 0 else None
            # only the publisher's hold (still in the future): a publish_at due by now
            # was set after the publish (a parked task woken, a run released) and stays
            t.conn.executemany(
                "UPDATE tasks SET publish_at=? WHERE id=? AND status='pending' "
                "AND parked=0 AND (eta IS NULL OR eta <= ?) AND publish_at > ? "
                # nor a moment a wake-up reserved under a rate (also in the future)
                "AND NOT EXISTS (SELECT 1 FROM rate_log WHERE member=tasks.id "
                "AND type=tasks.type AND key IN ('', COALESCE(tasks.flow_key, '')))",
                [(again, i, t.now, t.now) for i in task_ids],
            )

        await self._write(tx)

    async def mark_unqueued(self, task_ids: Sequence[str]) -> None:
        if not task_ids:
            return

        def tx(t: Tx) -> None:
            t.conn.executemany(
                "UPDATE tasks SET publish_at=max(?, coalesce(eta, 0)) WHERE id=? "
                "AND status='pending' AND parked=0 "
                "AND (publish_at IS NULL OR publish_at > max(?, coalesce(eta, 0)))",
                [(t.now, i, t.now) for i in task_ids],
            )

        await self._write(tx)

    async def discard(self, task_ids: Sequence[str]) -> None:
        def tx(t: Tx) -> None:
            t.conn.executemany("DELETE FROM tasks WHERE id=?", [(i,) for i in task_ids])
            dependencies.forget(t.conn, list(task_ids))

        await self._write(tx)

    async def take_due(self, limit: int, hold: float) -> list[Message]:
        def tx(t: Tx) -> list[Message]:
            t.wake_rated()
            rows = t.conn.execute(
                "SELECT id, type, priority FROM tasks WHERE publish_at <= ? "
                "ORDER BY publish_at LIMIT ?",
                (t.now, limit),
            ).fetchall()
            t.conn.executemany(
                "UPDATE tasks SET publish_at=? WHERE id=?", [(t.now + hold, r[0]) for r in rows]
            )
            return [Message(r[0], r[1], r[2]) for r in rows]

        result: list[Message] = await self._write(tx)
        return result

    # -- running ------------------------------------------------------------

    async def claim(
        self, task_ids: Sequence[str], worker_id: str, lease: float
    ) -> tuple[list[Claim], list[TaskEvent]]:
        settings = self.settings

        def tx(t: Tx) -> list[Claim]:
            claims: list[Claim] = []
            budget: dict[str, int | None] = {}
            key_budget: dict[tuple[str, str], int | None] = {}
            for task_id in task_ids:
                task = t.task(task_id)
                if task is None or task.terminal:
                    claims.append(Claim(task_id, ClaimOutcome.GONE))
                    continue
                row = t.conn.execute(
                    "SELECT deadline, lease_until, cancel_requested FROM tasks WHERE id=?",
                    (task_id,),
                ).fetchone()
                deadline, lease_until, cancel_requested = row
                if task.status == TaskStatus.PENDING:
                    if deadline is not None and deadline <= t.now:
                        t.terminate(task, TaskStatus.TIMEOUT, "queue timeout", settings.result_ttl)
                        claims.append(Claim(task_id, ClaimOutcome.GONE))
                        continue
                    if task.eta is not None and task.eta > t.now:
                        claims.append(Claim(task_id, ClaimOutcome.GONE))
                        continue
                elif lease_until is not None and lease_until > t.now:
                    claims.append(Claim(task_id, ClaimOutcome.GONE))
                    continue
                else:  # processing under an expired lease: its worker is gone
                    if cancel_requested:
                        t.terminate(task, TaskStatus.CANCELED, CANCELED_LOST, settings.result_ttl)
                        t.wake_parked(task.type, 1)
                        claims.append(Claim(task_id, ClaimOutcome.GONE))
                        continue
                    task.redeliveries += 1
                    if task.redeliveries > settings.max_redeliveries:
                        t.terminate(
                            task,
                            TaskStatus.FAILED,
                            f"worker lost {task.redeliveries} times",
                            settings.result_ttl,
                        )
                        claims.append(Claim(task_id, ClaimOutcome.GONE))
                        continue
                if task.type not in budget:
                    cap = t.limit(task.type)
                    budget[task.type] = None if cap is None else cap - t.running(task.type)
                left = budget[task.type]
                slot = (task.type, task.key or "")
                if task.key and slot not in key_budget:
                    key_budget[slot] = t.key_free(task.type, task.key)
                key_left = key_budget.get(slot)
                if (
                    (left is not None and left <= 0)
                    or (key_left is not None and key_left <= 0)
                    or not t.rates.admit(task_id, task.type, task.key)
                ):
                    # parked until a token frees (finish, lease expiry, a raised limit)
                    # or its rates have room (take_due's wake-ups): not republished
                    # while the type stays saturated
                    t.conn.execute(
                        "UPDATE tasks SET status='pending', parked=1, publish_at=NULL, "
                        "lease_until=NULL, worker_id=NULL, redeliveries=? WHERE id=?",
                        (task.redeliveries, task_id),
                    )
                    claims.append(Claim(task_id, ClaimOutcome.DEFERRED))
                    continue
                if left is not None:
                    budget[task.type] = left - 1
                if key_left is not None:
                    key_budget[slot] = key_left - 1
                task.status = TaskStatus.PROCESSING
                task.worker_id = worker_id
                task.started_at = task.updated_at = t.now
                task.progress = None
                t.conn.execute(
                    "UPDATE tasks SET status='processing', worker_id=?, started_at=?, "
                    "updated_at=?, lease_until=?, parked=0, publish_at=NULL, progress=NULL, "
                    "cancel_requested=0, redeliveries=?, deadline=NULL WHERE id=?",
                    (worker_id, t.now, t.now, t.now + lease, task.redeliveries, task_id),
                )
                t.emit(task)
                claims.append(Claim(task_id, ClaimOutcome.STARTED, task))
            return claims

        result: tuple[list[Claim], list[TaskEvent]] = await self._write_with_events(tx)
        return result

    async def _write_with_events(self, fn: Any) -> Any:
        def tx(conn: sqlite3.Connection) -> Any:
            t = Tx(conn, time.time(), self.settings.dead_ttl)
            out = fn(t)
            t.rates.flush()
            return out, t.events

        return await self.db.write(tx)

    async def heartbeat(self, worker_id: str, task_ids: Sequence[str], lease: float) -> Heartbeat:
        if not task_ids:
            return Heartbeat()
        ids = list(task_ids)

        def tx(t: Tx) -> Heartbeat:
            marks = placeholders(len(ids))
            # Only a live lease is renewed: once it expired, its token counted as free
            # and another run of the type may have started; reviving it could exceed
            # the limit, so the run is reported lost instead.
            t.conn.execute(
                f"UPDATE tasks SET lease_until=? WHERE id IN ({marks}) "
                "AND status='processing' AND worker_id=? AND lease_until > ?",
                (t.now + lease, *ids, worker_id, t.now),
            )
            rows = t.conn.execute(
                f"SELECT id, status, worker_id, cancel_requested, lease_until FROM tasks "
                f"WHERE id IN ({marks})",
                ids,
            ).fetchall()
            owned = {
                r[0] for r in rows if r[1] == "processing" and r[2] == worker_id and r[4] > t.now
            }
            cancel = frozenset(r[0] for r in rows if r[0] in owned and r[3])
            return Heartbeat(cancel_requested=cancel, lost=frozenset(set(ids) - owned))

        result: Heartbeat = await self._write(tx)
        return result

    async def finish(self, finishes: Sequence[Finish]) -> tuple[list[bool], list[TaskEvent]]:
        retention = self.settings.result_ttl

        def tx(t: Tx) -> list[bool]:
            applied: list[bool] = []
            for f in finishes:
                task = t.task(f.task_id)
                if (
                    task is None
                    or task.status != TaskStatus.PROCESSING
                    or (task.worker_id != f.worker_id)
                ):
                    applied.append(False)
                    continue
                if f.kind == FinishKind.RETRY:
                    t.to_pending(task, t.now + f.retry_delay, f.error, task.retry + 1)
                elif f.kind == FinishKind.RELEASE:
                    t.to_pending(task, None, task.error, task.retry)
                else:
                    t.terminate(task, TaskStatus(str(f.kind)), f.error, retention, f.result)
                t.wake_parked(task.type, 1)
                applied.append(True)
            return applied

        result: tuple[list[bool], list[TaskEvent]] = await self._write_with_events(tx)
        return result

    async def report_progress(
        self, task_id: str, worker_id: str, progress: float
    ) -> TaskEvent | None:
        def tx(t: Tx) -> TaskEvent | None:
            cur = t.conn.execute(
                "UPDATE tasks SET progress=?, updated_at=? WHERE id=? AND status='processing' "
                "AND worker_id=?",
                (progress, t.now, task_id, worker_id),
            )
            if cur.rowcount != 1:
                return None
            task = t.task(task_id)
            assert task is not None
            t.emit(task, "progress")
            return t.events[-1]

        result: TaskEvent | None = await self._write(tx)
        return result

    # -- reading and cancelling ---------------------------------------------

    async def get(self, task_id: str) -> Task | None:
        row = await self.db.run(
            lambda c: c.execute(
                f"SELECT {COLUMNS}, deadline FROM tasks WHERE id=?", (task_id,)
            ).fetchone()
        )
        if row is None:
            return None
        task = _row_to_task(row)
        if task.status == TaskStatus.PENDING and row[-1] is not None and row[-1] <= time.time():
            return await self._expire(task_id)
        return task

    async def _expire(self, task_id: str) -> Task | None:
        """Turn one overdue pending task into ``timeout`` (a read noticed it first)."""
        retention = self.settings.result_ttl

        def tx(t: Tx) -> Task | None:
            task = t.task(task_id)
            deadline = t.conn.execute("SELECT deadline FROM tasks WHERE id=?", (task_id,))
            row = deadline.fetchone()
            if task is not None and task.status == TaskStatus.PENDING and row[0] <= t.now:
                t.terminate(task, TaskStatus.TIMEOUT, "queue timeout", retention)
            return task

        result: Task | None = await self._write(tx)
        return result

    async def _repair_overdue(self) -> None:
        """Time out overdue pending tasks first, so no read shows one as pending."""
        now = time.time()
        overdue = await self.db.run(
            lambda c: c.execute(
                "SELECT 1 FROM tasks WHERE deadline <= ? AND status='pending' LIMIT 1", (now,)
            ).fetchone()
        )
        if overdue:
            await self.maintain(self.settings.max_redeliveries)

    async def list_tasks(
        self,
        status: TaskStatus | None = None,
        type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        await self._repair_overdue()
        where: list[str] = []
        args: list[Any] = []
        if status is not None:
            where.append("status = ?")
            args.append(str(status))
        if type is not None:
            where.append("type = ?")
            args.append(type)
        if cursor:
            where.append("id < ?")
            args.append(cursor)
        sql = f"SELECT {COLUMNS} FROM tasks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit + 1)
        rows = await self.db.run(lambda c: c.execute(sql, args).fetchall())
        tasks = [_row_to_task(r) for r in rows[:limit]]
        next_cursor = tasks[-1].id if len(rows) > limit else None
        return Page(tasks, next_cursor)

    async def cancel(self, task_id: str) -> tuple[CancelResult | None, list[TaskEvent]]:
        retention = self.settings.result_ttl

        def tx(t: Tx) -> CancelResult | None:
            task = t.task(task_id)
            if task is None:
                return None
            if task.terminal:
                return CancelResult(CancelOutcome.FINISHED, task)
            if task.status in (TaskStatus.PENDING, TaskStatus.WAITING):
                t.terminate(task, TaskStatus.CANCELED, "canceled", retention)
                return CancelResult(CancelOutcome.CANCELED, task)
            t.conn.execute("UPDATE tasks SET cancel_requested=1 WHERE id=?", (task_id,))
            return CancelResult(CancelOutcome.REQUESTED, task)

        result: tuple[CancelResult | None, list[TaskEvent]] = await self._write_with_events(tx)
        return result

    async def workflow_tasks(self, workflow_id: str, after: str | None, limit: int) -> Page:
        def read(c: sqlite3.Connection) -> list[Any]:
            return c.execute(
                f"SELECT {COLUMNS} FROM tasks WHERE workflow=? AND id > ? ORDER BY id LIMIT ?",
                (workflow_id, after or "", limit + 1),
            ).fetchall()

        rows = await self.db.run(read)
        tasks = [_row_to_task(r) for r in rows[:limit]]
        return Page(tasks, tasks[-1].id if len(rows) > limit else None)

    async def parent_results(
        self, task_id: str, offset: int, limit: int
    ) -> tuple[dict[str, Any], int | None]:
        result: tuple[dict[str, Any], int | None] = await self.db.run(
            lambda c: dependencies.parent_results(c, task_id, offset, limit)
        )
        return result

    async def counts(self) -> dict[str, dict[str, int]]:
        await self._repair_overdue()

        def read(c: sqlite3.Connection) -> dict[str, dict[str, int]]:
            by_status = dict(c.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status"))
            by_type = dict(c.execute("SELECT type, COUNT(*) FROM tasks GROUP BY type"))
            return {"status": by_status, "type": by_type}

        result: dict[str, dict[str, int]] = await self.db.run(read)
        return result

    # -- limits and types ---------------------------------------------------

    async def set_limit(self, task_type: str, limit: int | None) -> None:
        def tx(t: Tx) -> None:
            if limit is None:
                t.conn.execute("DELETE FROM limits WHERE type=?", (task_type,))
                t.wake_parked(task_type, None)
                return
            t.conn.execute(
                "INSERT INTO limits (type, max_concurrency) VALUES (?, ?) "
                "ON CONFLICT(type) DO UPDATE SET max_concurrency=excluded.max_concurrency",
                (task_type, limit),
            )
            free = limit - t.running(task_type)
            if free > 0:
                t.wake_parked(task_type, free)

        await self._write(tx)

    async def set_paused(self, task_type: str, paused: bool) -> bool:
        def tx(t: Tx) -> bool:
            if paused:
                return bool(
                    t.conn.execute(
                        "INSERT INTO paused (type, since) VALUES (?, ?) ON CONFLICT DO NOTHING",
                        (task_type, t.now),
                    ).rowcount
                )
            if not t.conn.execute("DELETE FROM paused WHERE type=?", (task_type,)).rowcount:
                return False
            cap = t.limit(task_type)
            free = None if cap is None else cap - t.running(task_type)
            if free is None or free > 0:
                t.wake_parked(task_type, free)
            return True

        changed: bool = await self._write(tx)
        return changed

    async def paused(self) -> dict[str, float]:
        rows = await self.db.run(lambda c: c.execute("SELECT type, since FROM paused").fetchall())
        return {r[0]: float(r[1]) for r in rows}

    async def report_worker(self, worker: WorkerInfo, ttl: float) -> None:
        def tx(t: Tx) -> None:
            t.conn.execute("DELETE FROM workers WHERE expires_at <= ?", (t.now,))  # gone ones
            row = t.conn.execute("SELECT started_at FROM workers WHERE id=?", (worker.id,))
            found = row.fetchone()
            started = t.now if found is None else float(found[0])
            info = replace(worker, started_at=started, last_seen=t.now, expires_at=t.now + ttl)
            t.conn.execute(
                "INSERT INTO workers (id, data, started_at, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET data=excluded.data, expires_at=excluded.expires_at",
                (worker.id, orjson.dumps(info.to_record()).decode(), started, info.expires_at),
            )

        await self._write(tx)

    async def forget_worker(self, worker_id: str) -> None:
        await self._write(lambda t: t.conn.execute("DELETE FROM workers WHERE id=?", (worker_id,)))

    async def workers(self) -> list[WorkerInfo]:
        now = time.time()
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT data FROM workers WHERE expires_at > ? ORDER BY id", (now,)
            ).fetchall()
        )
        return [WorkerInfo.from_record(orjson.loads(r[0])) for r in rows]

    async def limits(self) -> dict[str, int]:
        rows = await self.db.run(
            lambda c: c.execute("SELECT type, max_concurrency FROM limits").fetchall()
        )
        return {r[0]: int(r[1]) for r in rows}

    async def running(self) -> dict[str, int]:
        now = time.time()
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT type, COUNT(*) FROM tasks WHERE status='processing' AND lease_until > ? "
                "GROUP BY type",
                (now,),
            ).fetchall()
        )
        return {r[0]: int(r[1]) for r in rows}

    async def set_key_limit(self, task_type: str, key: str | None, limit: int | None) -> None:
        def tx(t: Tx) -> None:
            stored = key or ""  # '' holds the default of every key of the type
            if limit is None:
                t.conn.execute("DELETE FROM key_limits WHERE type=? AND key=?", (task_type, stored))
            else:
                t.conn.execute(
                    "INSERT INTO key_limits (type, key, max_concurrency) VALUES (?, ?, ?) "
                    "ON CONFLICT(type, key) DO UPDATE SET max_concurrency=excluded.max_concurrency",
                    (task_type, stored, limit),
                )
            cap = t.limit(task_type)
            t.wake_parked(task_type, None if cap is None else cap - t.running(task_type))

        await self._write(tx)

    async def set_rate(self, task_type: str, key: str | None, rate: Rate | None) -> None:
        def tx(t: Tx) -> None:
            t.rates.flush()
            set_rate(t.conn, task_type, key, rate)
            # a raised or removed rate may let parked tasks start now (a lowered one
            # applies to the next start)
            t.rates = RateBook(t.conn, t.now)
            cap = t.limit(task_type)
            t.wake_parked(task_type, None if cap is None else cap - t.running(task_type))

        await self._write(tx)

    async def rates(self) -> dict[str, dict[str, Rate]]:
        result: dict[str, dict[str, Rate]] = await self.db.run(all_rates)
        return result

    async def set_key_weight(self, task_type: str, key: str, weight: int | None) -> None:
        def tx(t: Tx) -> None:
            if weight is None or weight == 1:
                t.conn.execute("DELETE FROM key_weights WHERE type=? AND key=?", (task_type, key))
            else:
                t.conn.execute(
                    "INSERT INTO key_weights (type, key, weight) VALUES (?, ?, ?) "
                    "ON CONFLICT(type, key) DO UPDATE SET weight=excluded.weight",
                    (task_type, key, weight),
                )

        await self._write(tx)

    async def key_weights(self) -> dict[str, dict[str, int]]:
        rows = await self.db.run(
            lambda c: c.execute("SELECT type, key, weight FROM key_weights").fetchall()
        )
        out: dict[str, dict[str, int]] = {}
        for task_type, key, weight in rows:
            out.setdefault(task_type, {})[key] = int(weight)
        return out

    # -- periodic schedules (the ScheduleStore role) ----------------------------

    async def put_schedule(
        self,
        schedule: Schedule,
        next_at: float,
        *,
        create: bool = False,
        code_hash: str | None = None,
    ) -> bool:
        def tx(t: Tx) -> bool:
            return schedules.put(t.conn, schedule, next_at, create, code_hash)

        result: bool = await self._write(tx)
        return result

    async def get_schedule(self, name: str) -> ScheduleState | None:
        result: ScheduleState | None = await self.db.run(lambda c: schedules.get(c, name))
        return result

    async def list_schedules(self) -> list[ScheduleState]:
        result: list[ScheduleState] = await self.db.run(schedules.every)
        return result

    async def delete_schedule(self, name: str) -> bool:
        result: bool = await self._write(lambda t: schedules.delete(t.conn, name))
        return result

    async def due_schedules(self, limit: int) -> tuple[float, list[ScheduleState]]:
        now = time.time()
        found: list[ScheduleState] = await self.db.run(lambda c: schedules.due(c, now, limit))
        return now, found

    async def fire_schedules(self, fires: Sequence[TickFire]) -> list[list[Task] | None]:
        def tx(t: Tx) -> list[list[Task] | None]:
            return [schedules.fire(t, f.name, f.expected_next, f.new_next, f.tasks) for f in fires]

        result: list[list[Task] | None] = await self._write(tx)
        return result

    async def key_limits(self) -> dict[str, dict[str, int]]:
        rows = await self.db.run(
            lambda c: c.execute("SELECT type, key, max_concurrency FROM key_limits").fetchall()
        )
        out: dict[str, dict[str, int]] = {}
        for task_type, key, limit in rows:
            out.setdefault(task_type, {})[key or "*"] = int(limit)
        return out

    async def key_usage(self, task_type: str, top: int) -> list[KeyUsage]:
        now = time.time()

        def read(c: sqlite3.Connection) -> list[KeyUsage]:
            running = dict(
                c.execute(
                    "SELECT flow_key, COUNT(*) FROM tasks WHERE status='processing' AND type=? "
                    "AND flow_key IS NOT NULL AND lease_until > ? GROUP BY flow_key",
                    (task_type, now),
                ).fetchall()
            )
            waiting = dict(
                c.execute(
                    "SELECT flow_key, COUNT(*) FROM tasks WHERE parked=1 AND type=? "
                    "AND flow_key IS NOT NULL GROUP BY flow_key",
                    (task_type,),
                ).fetchall()
            )
            limits = dict(
                c.execute(
                    "SELECT key, max_concurrency FROM key_limits WHERE type=?", (task_type,)
                ).fetchall()
            )
            keys = sorted(
                set(running) | set(waiting),
                key=lambda k: (-running.get(k, 0), -waiting.get(k, 0), k),
            )[:top]
            return [
                KeyUsage(k, running.get(k, 0), waiting.get(k, 0), limits.get(k, limits.get("")))
                for k in keys
            ]

        result: list[KeyUsage] = await self.db.run(read)
        return result

    async def announce(
        self,
        worker_id: str,
        task_types: Sequence[str],
        defaults: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        defaults = defaults or {}

        def tx(t: Tx) -> None:
            t.conn.executemany(
                "INSERT INTO types (type, last_seen, worker_id, defaults) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(type) DO UPDATE SET last_seen=excluded.last_seen, "
                "worker_id=excluded.worker_id, defaults=excluded.defaults",
                [
                    (name, t.now, worker_id, orjson.dumps(defaults.get(name, {})).decode())
                    for name in task_types
                ],
            )

        await self._write(tx)

    async def known_types(self) -> list[TypeInfo]:
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT type, last_seen, defaults FROM types ORDER BY type"
            ).fetchall()
        )
        return [TypeInfo(r[0], r[1], orjson.loads(r[2]) if r[2] else {}) for r in rows]

    # -- upkeep and events --------------------------------------------------

    async def maintain(self, max_redeliveries: int) -> list[TaskEvent]:
        retention = self.settings.result_ttl

        def tx(t: Tx) -> None:
            for (task_id,) in t.conn.execute(
                "SELECT id FROM tasks WHERE deadline <= ? AND status='pending'", (t.now,)
            ).fetchall():
                task = t.task(task_id)
                assert task is not None
                t.terminate(task, TaskStatus.TIMEOUT, "queue timeout", retention)
            for task_id, cancel_requested in t.conn.execute(
                "SELECT id, cancel_requested FROM tasks WHERE status='processing' "
                "AND lease_until <= ?",
                (t.now,),
            ).fetchall():
                task = t.task(task_id)
                assert task is not None
                task.redeliveries += 1
                if cancel_requested:
                    t.terminate(task, TaskStatus.CANCELED, CANCELED_LOST, retention)
                elif task.redeliveries > max_redeliveries:
                    t.terminate(
                        task,
                        TaskStatus.FAILED,
                        f"worker lost {task.redeliveries} times",
                        retention,
                    )
                else:
                    t.to_pending(task, None, task.error, task.retry)
                t.wake_parked(task.type, 1)
            for row in t.conn.execute(
                "SELECT id, type, status, retry, error, progress, worker_id FROM tasks "
                "WHERE expires_at <= ?",
                (t.now,),
            ).fetchall():
                t.events.append(
                    TaskEvent(
                        row[0],
                        row[1],
                        TaskStatus(row[2]),
                        row[3],
                        row[4],
                        row[5],
                        row[6],
                        t.now,
                        "purged",
                    )
                )
                t.conn.execute("DELETE FROM tasks WHERE id=?", (row[0],))
            t.conn.execute(
                "DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?",
                (EVENT_LOG_SIZE,),
            )
            t.sweep_parked()
            debounce.forget_ended(t.conn)

        _, events = await self._write_with_events(tx)
        result: list[TaskEvent] = events
        return result

    async def event_cursor(self) -> str:
        last = await self.db.run(
            lambda c: c.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        )
        return str(last)

    async def read_events(
        self, after: str | None, limit: int, timeout: float
    ) -> list[tuple[str, TaskEvent]]:
        if after is None:
            after = await self.event_cursor()
        start = int(after)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout
        # every millisecond for the first 0.1 s (a waiting client sees a change at once;
        # a query for new rows costs tens of microseconds), then backing off to 50 ms
        pause, fast_until = 0.001, loop.time() + 0.1
        while True:
            rows = await self.db.run(
                lambda c: c.execute(
                    "SELECT seq, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                    (start, limit),
                ).fetchall()
            )
            if rows or loop.time() >= give_up:
                return [(str(r[0]), TaskEvent.from_dict(orjson.loads(r[1]))) for r in rows]
            await asyncio.sleep(min(pause, max(0.0, give_up - loop.time())))
            if loop.time() > fast_until:
                pause = min(pause * 2, 0.05)
