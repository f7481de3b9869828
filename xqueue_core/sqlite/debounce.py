"""Debounce in the embedded store: the waiting task of each (type, flow key)."""

from __future__ import annotations

import sqlite3

SCHEMA = """
-- per (type, flow key): the task the last debounce window created, and when
CREATE TABLE IF NOT EXISTS debounce (
    type TEXT NOT NULL, key TEXT NOT NULL, task_id TEXT NOT NULL, first_at REAL NOT NULL,
    PRIMARY KEY (type, key)
);
"""


def waiting(
    conn: sqlite3.Connection, task_type: str, key: str, now: float
) -> tuple[str, float] | None:
    """The window's task of (type, key) while it still waits: pending, not parked, due
    after now and never run; with when its window opened."""
    row = conn.execute(
        "SELECT d.task_id, d.first_at FROM debounce d JOIN tasks t ON t.id = d.task_id "
        "WHERE d.type=? AND d.key=? AND t.status='pending' AND t.parked=0 AND t.retry=0 "
        "AND t.redeliveries=0 AND t.started_at IS NULL AND t.eta > ?",
        (task_type, key, now),
    ).fetchone()
    return None if row is None else (str(row[0]), float(row[1]))


def open_window(
    conn: sqlite3.Connection, task_type: str, key: str, task_id: str, now: float
) -> None:
    conn.execute(
        "INSERT INTO debounce (type, key, task_id, first_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(type, key) DO UPDATE SET task_id=excluded.task_id, first_at=excluded.first_at",
        (task_type, key, task_id, now),
    )


def forget_ended(conn: sqlite3.Connection) -> None:
    """Upkeep: drop windows whose task is no longer pending (one row per key at most)."""
    conn.execute(
        "DELETE FROM debounce WHERE task_id NOT IN (SELECT id FROM tasks WHERE status='pending')"
    )
