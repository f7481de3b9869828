"""Replaying dead tasks (DESIGN §7.4): a task that ended ``failed`` or ``timeout`` can
be run again as a **new** task with the same type, payload and options and
``replay_of`` = its id; the store points the old record at it (``replayed_by``) in
the same step as the create, once — terminal states never change otherwise.

Replaying is idempotent: the new task's idempotency key is ``replay:<old id>``, so
two replays of the same dead task (a double click, a retried request, two operators)
make one new task; the second gets the first. In bulk, by a filter (type, status,
error text, time range, limit), the matching dead tasks not replayed yet are
replayed :data:`BATCH` at a time, each batch one store call.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import TaskNotDead, ValidationError
from .handlers import check_type_name
from .ids import new_id
from .models import Task, TaskStatus
from .validation import check_time

if TYPE_CHECKING:
    from .interfaces import Backends
    from .models import Page

DEAD: tuple[TaskStatus, ...] = (TaskStatus.FAILED, TaskStatus.TIMEOUT)
BATCH = 500  # new tasks per store call in a bulk replay
PAGE = 500  # dead tasks read per store call while filtering
MAX_REPLAY = 100_000  # tasks one bulk replay may make
FILTER_FIELDS = frozenset(
    {"type", "status", "error_contains", "since", "until", "limit", "all", "task_ids"}
)
MAX_IDS = 1000  # task ids one bulk replay may name


def replay_key(task_id: str) -> str:
    """The idempotency key of the replay of ``task_id``."""
    return f"replay:{task_id}"


def replay_of(old: Task) -> Task:
    """A new task running ``old`` again: its type, payload, priority, retries, timeouts
    and flow key (no eta, no parents, no schedule, no workflow)."""
    return Task(
        id=new_id(),
        type=old.type,
        payload=dict(old.payload),
        priority=old.priority,
        max_retry=old.max_retry,
        queue_timeout=old.queue_timeout,
        process_timeout=old.process_timeout,
        key=old.key,
        idempotency_key=replay_key(old.id),
        replay_of=old.id,
    )


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which dead tasks a bulk replay takes: of ``type`` (None: any), in ``statuses``,
    whose error contains ``error_contains``, that ended in ``[since, until]``, at most
    ``limit`` (None: all, up to :data:`MAX_REPLAY`); or exactly ``task_ids`` (those of
    them dead and not replayed yet)."""

    type: str | None = None
    statuses: tuple[TaskStatus, ...] = DEAD
    error_contains: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int | None = None
    task_ids: tuple[str, ...] | None = None  # exactly these (and not a filter)

    @classmethod
    def check(cls, data: Mapping[str, Any]) -> ReplayFilter:
        """From a mapping (REST body, CLI options); a one-line :class:`ValidationError`
        for bad input, and for an empty filter without ``all: true`` (replaying every
        dead task must be asked for)."""
        unknown = set(data) - FILTER_FIELDS
        if unknown:
            raise ValidationError(
                f"unknown field(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(FILTER_FIELDS))}"
            )
        everything = data.get("all", False)
        if not isinstance(everything, bool):
            raise ValidationError(f"all must be true or false, got {everything!r}")
        ids = data.get("task_ids")
        if ids is not None:
            others = sorted(
                k for k, v in data.items() if k not in ("task_ids", "all") and v is not None
            ) + (["all"] if everything else [])
            if others:
                raise ValidationError(f"give task_ids or a filter, not both ({', '.join(others)})")
            if (
                not isinstance(ids, list)
                or not 1 <= len(ids) <= MAX_IDS
                or not all(isinstance(i, str) and i for i in ids)
            ):
                raise ValidationError(f"task_ids must be a list of 1 to {MAX_IDS} task ids")
            return cls(task_ids=tuple(dict.fromkeys(ids)))
        task_type = data.get("type")
        if task_type is not None:
            check_type_name(task_type)
        status = data.get("status")
        statuses = DEAD
        if status is not None:
            if status not in [str(s) for s in DEAD]:
                raise ValidationError(f"status must be failed or timeout, got {status!r}")
            statuses = (TaskStatus(status),)
        error = data.get("error_contains")
        if error is not None and (not isinstance(error, str) or not error):
            raise ValidationError(f"error_contains must be a non-empty string, got {error!r}")
        since = check_time("since", data.get("since"))
        until = check_time("until", data.get("until"))
        limit = data.get("limit")
        if isinstance(limit, float) and limit.is_integer():  # 398.0 is JSON's 398
            limit = int(limit)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_REPLAY
        ):
            raise ValidationError(f"limit must be a whole number 1 to {MAX_REPLAY}, got {limit!r}")
        chosen = cls(task_type, statuses, error, since, until, limit)
        if chosen == cls() and not everything:
            raise ValidationError(
                "an empty filter replays every dead task: give a filter, or all (--all)"
            )
        return chosen

    def takes(self, task: Task) -> bool:
        """Whether ``task`` (dead, of a listed status and type) is one to replay."""
        if task.replayed_by is not None:
            return False
        if self.error_contains is not None and self.error_contains not in (task.error or ""):
            return False
        ended = task.completed_at or task.updated_at
        if self.since is not None and ended < self.since:
            return False
        return self.until is None or ended <= self.until


@dataclass(slots=True)
class ReplayReport:
    """What a bulk replay did: how many dead tasks matched, how many new tasks it made
    (``replayed``; with ``dry_run``, none), and the new tasks' ids by old id."""

    matched: int = 0
    replayed: int = 0
    dry_run: bool = False
    tasks: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "replayed": self.replayed,
            "dry_run": self.dry_run,
            "tasks": self.tasks,
        }


class ReplayControl:
    """Mixed into :class:`~xqueue_core.XQueue`."""

    def backends(self) -> Backends:
        raise NotImplementedError

    async def get(self, task_id: str) -> Task:
        raise NotImplementedError

    async def list(
        self,
        status: str | TaskStatus | None = None,
        type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        raise NotImplementedError

    async def _store_new(self, tasks: builtins.list[Task]) -> builtins.list[Task]:
        raise NotImplementedError

    async def _check_type(self, task_type: str) -> None:
        raise NotImplementedError

    async def replay(self, task_id: str) -> tuple[Task, bool]:
        """Run a dead task again as a new task; the new task and whether this call made
        it (False: the task was replayed before, and that replay is returned). Raises
        :class:`~xqueue_core.errors.TaskNotFound`, or
        :class:`~xqueue_core.errors.TaskNotDead` for a task that did not end failed or
        timeout."""
        old = await self.get(task_id)
        if old.status not in DEAD:
            raise TaskNotDead(
                f"task {task_id} is {old.status}: only failed or timed-out tasks are replayed"
            )
        await self._check_type(old.type)  # a type no worker runs would never run again
        if old.replayed_by is not None:
            store = self.backends().store
            earlier = await store.get(old.replayed_by)
            if earlier is not None:
                return earlier, False
        fresh = replay_of(old)
        [stored] = await self._store_new([fresh])
        return stored, stored.id == fresh.id

    async def replay_many(self, chosen: ReplayFilter, dry_run: bool = False) -> ReplayReport:
        """Replay the dead tasks ``chosen`` takes (newest first), :data:`BATCH` per store
        call; with ``dry_run``, only count them."""
        if chosen.type is not None:
            await self._check_type(chosen.type)
        if chosen.task_ids is not None:
            return await self._replay_ids(chosen.task_ids, dry_run)
        report = ReplayReport(dry_run=dry_run)
        cap = chosen.limit or MAX_REPLAY
        batch: builtins.list[Task] = []

        async def flush() -> None:
            await self._replay_batch(batch, report)
            batch.clear()

        for status in chosen.statuses:
            cursor: str | None = None
            while report.matched < cap:
                page = await self.list(status, chosen.type, PAGE, cursor)
                for task in page.tasks:
                    if report.matched >= cap:
                        break
                    if chosen.takes(task):
                        report.matched += 1
                        if not dry_run:
                            batch.append(task)
                            if len(batch) >= BATCH:
                                await flush()
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        if batch:
            await flush()
        return report

    async def _replay_ids(self, task_ids: tuple[str, ...], dry_run: bool) -> ReplayReport:
        """Replay exactly these tasks, those of them that are dead and not replayed
        (the rest are skipped: unknown, not dead, replayed before), in one store call."""
        store = self.backends().store
        report = ReplayReport(dry_run=dry_run)
        chosen = ReplayFilter(statuses=DEAD)
        dead = []
        for task_id in task_ids:
            task = await store.get(task_id)
            if task is not None and task.status in DEAD and chosen.takes(task):
                dead.append(task)
        report.matched = len(dead)
        if dead and not dry_run:
            await self._replay_batch(dead, report)
        return report

    async def _replay_batch(self, dead: builtins.list[Task], report: ReplayReport) -> None:
        """Replay ``dead`` in one store call; record each replay in ``report``."""
        fresh = [replay_of(t) for t in dead]
        for old, new, made in zip(dead, fresh, await self._store_new(fresh), strict=True):
            report.tasks[old.id] = made.id
            report.replayed += made.id == new.id  # (else replayed meanwhile: that one)
