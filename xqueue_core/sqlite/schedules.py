"""Periodic schedules in the embedded store: definitions, next ticks, the fire step."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..models import TERMINAL, Task, TaskStatus
from ..schedules import Schedule, ScheduleState, decode, encode, timing

if TYPE_CHECKING:
    from .store import Tx

SCHEMA = """
-- periodic schedules: the definition (JSON), the next tick to fire, the last fired
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT PRIMARY KEY, definition TEXT NOT NULL, timing TEXT NOT NULL,
    enabled INTEGER NOT NULL, next_at REAL NOT NULL, last_run REAL, last_task_id TEXT,
    code_hash TEXT
);
CREATE INDEX IF NOT EXISTS schedules_due ON schedules(next_at) WHERE enabled = 1;
"""
COLUMNS = "definition, next_at, last_run, last_task_id, code_hash"
SAME_TICK = 1e-6  # next ticks are compared as the floats that were stored


def _state(row: Sequence[object]) -> ScheduleState:
    definition, next_at, last_run, last_task_id, code_hash = row
    return ScheduleState(
        decode(str(definition)),
        float(next_at),  # type: ignore[arg-type]
        None if last_run is None else float(last_run),  # type: ignore[arg-type]
        None if last_task_id is None else str(last_task_id),
        None if code_hash is None else str(code_hash),
    )


def put(
    conn: sqlite3.Connection,
    schedule: Schedule,
    next_at: float,
    create: bool,
    code_hash: str | None,
) -> bool:
    row = conn.execute(
        "SELECT timing, next_at, last_run FROM schedules WHERE name=?", (schedule.name,)
    ).fetchone()
    if row is not None and create:
        return False
    if row is not None:
        old_timing, stored, last_run = row
        if old_timing == timing(schedule):
            next_at = max(next_at, float(stored))  # only forward: an upsert racing a fire
        if last_run is not None and next_at <= float(last_run):
            next_at = float(stored)
    conn.execute(
        "INSERT INTO schedules (name, definition, timing, enabled, next_at, code_hash) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
        "definition=excluded.definition, timing=excluded.timing, enabled=excluded.enabled, "
        "next_at=excluded.next_at, code_hash=excluded.code_hash",
        (
            schedule.name,
            encode(schedule),
            timing(schedule),
            int(schedule.enabled),
            next_at,
            code_hash,
        ),
    )
    return True


def get(conn: sqlite3.Connection, name: str) -> ScheduleState | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM schedules WHERE name=?", (name,)).fetchone()
    return None if row is None else _state(row)


def every(conn: sqlite3.Connection) -> list[ScheduleState]:
    return [_state(r) for r in conn.execute(f"SELECT {COLUMNS} FROM schedules ORDER BY name")]


def delete(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("DELETE FROM schedules WHERE name=?", (name,)).rowcount > 0


def due(conn: sqlite3.Connection, now: float, limit: int) -> list[ScheduleState]:
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM schedules WHERE enabled=1 AND next_at <= ? "
        "ORDER BY next_at LIMIT ?",
        (now, limit),
    ).fetchall()
    return [_state(r) for r in rows]


def fire(
    t: Tx, name: str, expected_next: float, new_next: float, tasks: Sequence[Task]
) -> list[Task] | None:
    row = t.conn.execute(
        "SELECT definition, next_at, enabled, last_task_id FROM schedules WHERE name=?",
        (name,),
    ).fetchone()
    if row is None or not row[2] or abs(float(row[1]) - expected_next) > SAME_TICK:
        return None
    schedule, last_task_id = decode(row[0]), row[3]
    fired: list[Task] = []
    if schedule.overlap == "skip" and last_task_id is not None:
        last = t.conn.execute("SELECT status FROM tasks WHERE id=?", (last_task_id,)).fetchone()
        if last is not None and TaskStatus(last[0]) not in TERMINAL:
            tasks = []  # the last one still runs: these ticks are skipped
    for task in tasks:
        t.insert(task, 0.0)  # due for take_due now (or at its eta: jitter)
        fired.append(task)
    if fired:
        t.conn.execute(
            "UPDATE schedules SET next_at=?, last_run=?, last_task_id=? WHERE name=?",
            (new_next, fired[-1].scheduled_for, fired[-1].id, name),
        )
    else:
        t.conn.execute("UPDATE schedules SET next_at=? WHERE name=?", (new_next, name))
    return fired
