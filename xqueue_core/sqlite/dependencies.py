"""Task dependencies on the embedded store (DESIGN §7.2, :mod:`xqueue_core.workflows`).

A task created with ``depends_on`` whose parents have not all ended is ``waiting``:
a row of ``waits`` keeps how many it still waits for (``waiting_on``) and the first
parent that ended other than ``success`` (``parent_failed``), and each open parent
has a row ``(parent, child)`` in ``deps``. A parent's terminal transition, in its
own transaction, counts itself off each child's ``waiting_on`` (one update of a
small row per child: no scan of the siblings, and not the child's task row, whose
``depends_on`` of a 10,000-wide fan-in is 300 KB that SQLite would rewrite every
time) and releases the children that reach zero:
``pending`` and due at once, or ``canceled`` when a parent failed and the child's
``on_parent_failure`` is ``cancel`` — which ends that child's own children in the
same transaction, by a work list rather than recursion (a chain of any length).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import ValidationError
from ..models import TERMINAL, Task, TaskStatus
from ..workflows import PARTLY_KEYED

if TYPE_CHECKING:
    from .store import Tx

SCHEMA = """
CREATE TABLE IF NOT EXISTS deps (
    parent TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY (parent, child)
);
CREATE TABLE IF NOT EXISTS waits (
    child TEXT PRIMARY KEY, waiting_on INTEGER NOT NULL, parent_failed TEXT
);
"""

_TERMINAL = tuple(str(s) for s in TERMINAL)


def parent_error(parent_id: str, status: str) -> str:
    """The error of a child canceled because a parent did not succeed."""
    return f"parent {parent_id} ended {status}"


def attach(t: Tx, task: Task) -> tuple[int, str | None]:
    """Before ``task`` (with ``depends_on``) is inserted: record it with each parent
    that has not ended; how many those are, and the error of the first parent that
    ended other than ``success`` (None: none did). Raises :class:`ValidationError`
    (the whole create is rolled back) when a parent does not exist."""
    parents = list(dict.fromkeys(task.depends_on or []))
    found: dict[str, str] = {}
    for i in range(0, len(parents), 500):
        chunk = parents[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        found.update(
            t.conn.execute(f"SELECT id, status FROM tasks WHERE id IN ({marks})", chunk).fetchall()
        )
    missing = [p for p in parents if p not in found]
    if missing:
        raise ValidationError(f"depends_on: no task {missing[0]!r} in this store")
    failed = next((p for p in parents if found[p] in _TERMINAL and found[p] != "success"), None)
    open_ = [p for p in parents if found[p] not in _TERMINAL]
    task.depends_on = parents
    error = None if failed is None else parent_error(failed, found[failed])
    if open_:
        t.conn.executemany(
            "INSERT INTO deps (parent, child) VALUES (?, ?)", [(p, task.id) for p in open_]
        )
        t.conn.execute(
            "INSERT INTO waits (child, waiting_on, parent_failed) VALUES (?, ?, ?)",
            (task.id, len(open_), error),
        )
    return len(open_), error


def release(t: Tx, parent: Task, retention: float) -> None:
    """After ``parent`` ended: count it off its children's ``waiting_on`` and release
    those that waited only for it (and, for canceled ones, their children in turn)."""
    ended = [parent]
    while ended:
        done = ended.pop()
        children = [
            row[0]
            for row in t.conn.execute(
                "DELETE FROM deps WHERE parent=? RETURNING child", (done.id,)
            ).fetchall()
        ]
        failed = None if done.status == TaskStatus.SUCCESS else parent_error(done.id, done.status)
        for child_id in children:
            row = t.conn.execute(
                "UPDATE waits SET waiting_on=waiting_on-1, "
                "parent_failed=COALESCE(parent_failed, ?) WHERE child=? "
                "RETURNING waiting_on, parent_failed",
                (failed, child_id),
            ).fetchone()
            if row is None or row[0] > 0:
                continue  # still waits for another parent
            t.conn.execute("DELETE FROM waits WHERE child=?", (child_id,))
            child = t.task(child_id)
            if child is None or child.status != TaskStatus.WAITING:
                continue  # ended meanwhile (canceled while it waited)
            if row[1] is not None and child.on_parent_failure != "run":
                t.terminate(child, TaskStatus.CANCELED, row[1], retention, cascade=False)
                ended.append(child)
            else:
                t.release(child)


def forget(conn: sqlite3.Connection, task_ids: list[str]) -> None:
    """Drop the dependency rows of deleted tasks (a rolled-back create): as parents
    (by the primary key) and as children (deps has no index on child: one scan per
    500 ids rather than an index every insert pays for)."""
    conn.executemany("DELETE FROM deps WHERE parent=?", [(i,) for i in task_ids])
    for i in range(0, len(task_ids), 500):
        chunk = task_ids[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        conn.execute(f"DELETE FROM deps WHERE child IN ({marks})", chunk)
        conn.execute(f"DELETE FROM waits WHERE child IN ({marks})", chunk)


def parent_results(
    conn: sqlite3.Connection, task_id: str, offset: int, limit: int
) -> tuple[dict[str, Any], int | None]:
    """A page of a task's parents' results (see ``DependencyStore.parent_results``)."""
    row = conn.execute("SELECT depends_on FROM tasks WHERE id=?", (task_id,)).fetchone()
    parents: list[str] = [] if row is None or row[0] is None else orjson.loads(row[0])
    page = parents[offset : offset + limit]
    marks = ", ".join("?" * len(page))
    found = dict(
        conn.execute(f"SELECT id, result FROM tasks WHERE id IN ({marks})", page).fetchall()
        if page
        else []
    )
    results = {p: None if found.get(p) is None else orjson.loads(found[p]) for p in page}
    more = offset + limit if offset + limit < len(parents) else None
    return results, more


def check_whole_workflows(conn: sqlite3.Connection, tasks: Sequence[Task]) -> None:
    """Before a create: it takes a workflow whole, so when some of its members'
    idempotency keys are in use (or its id has members already) and others are not
    (another graph under the same key), a one-line :class:`ValidationError` and
    nothing is written."""
    seen: dict[str, set[bool]] = {}
    for task in tasks:
        if task.workflow is not None and task.idempotency_key is not None:
            if task.workflow not in seen:  # members of it already stored count as used
                stored = conn.execute(
                    "SELECT 1 FROM tasks WHERE workflow=? LIMIT 1", (task.workflow,)
                ).fetchone()
                seen[task.workflow] = {True} if stored else set()
            used = conn.execute(
                "SELECT 1 FROM tasks WHERE idempotency_key=?", (task.idempotency_key,)
            ).fetchone()
            seen[task.workflow].add(used is not None)
    if any(len(kinds) > 1 for kinds in seen.values()):
        raise ValidationError(PARTLY_KEYED)
