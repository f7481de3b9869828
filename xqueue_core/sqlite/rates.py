"""Rate limits in the embedded store: each bucket's sliding window log.

A bucket is a type (key ``''``) or one flow key of a type. Its rows in
``rate_log`` are the starts of the last period (member ``{task id}@{time}``) and
the reservations the wake-ups made for parked tasks (member = the task id, at the
moment it may start). Every function runs inside the caller's write transaction,
so an admission is part of the claim's atomic step.
"""

from __future__ import annotations

import sqlite3

from ..rates import WAKE_AHEAD, Rate, decode, encode

SCHEMA = """
-- rate limits: key '' is the type's own rate, '*' the default of every key
CREATE TABLE IF NOT EXISTS rates (
    type TEXT NOT NULL, key TEXT NOT NULL, rate TEXT NOT NULL, PRIMARY KEY (type, key)
);
-- per bucket (type, key ''/flow key): starts within the period and reservations
CREATE TABLE IF NOT EXISTS rate_log (
    type TEXT NOT NULL, key TEXT NOT NULL, member TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (type, key, member)
);
CREATE INDEX IF NOT EXISTS rate_log_at ON rate_log(type, key, at);
CREATE INDEX IF NOT EXISTS rate_log_member ON rate_log(member);
"""

Bucket = tuple[str, str, Rate]  # type, key ('' for the type's own), its rate


class RateBook:
    """The rates one transaction looks at, read once per type."""

    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        self.conn = conn
        self.now = now
        self._of_type: dict[str, dict[str, Rate]] = {}
        self._any: bool | None = None

    def any(self) -> bool:
        """Whether any rate is set (if not, nothing here costs more than this)."""
        if self._any is None:
            self._any = self.conn.execute("SELECT 1 FROM rates LIMIT 1").fetchone() is not None
        return self._any

    def of_type(self, task_type: str) -> dict[str, Rate]:
        if not self.any():
            return {}
        got = self._of_type.get(task_type)
        if got is None:
            got = {
                k: decode(r)
                for k, r in self.conn.execute(
                    "SELECT key, rate FROM rates WHERE type=?", (task_type,)
                )
            }
            self._of_type[task_type] = got
        return got

    def buckets(self, task_type: str, key: str | None) -> list[Bucket]:
        """The rates over a task: its type's, then its key's (own, else the default)."""
        rates = self.of_type(task_type)
        if not rates:
            return []
        out: list[Bucket] = []
        if "" in rates:
            out.append((task_type, "", rates[""]))
        if key:
            rate = rates.get(key) or rates.get("*")
            if rate is not None:
                out.append((task_type, key, rate))
        return out

    def _trim(self, bucket: Bucket) -> None:
        typ, key, rate = bucket
        self.conn.execute(
            "DELETE FROM rate_log WHERE type=? AND key=? AND at <= ?",
            (typ, key, self.now - rate.period),
        )

    def _has_room(self, bucket: Bucket, task_id: str) -> bool:
        typ, key, rate = bucket
        self._trim(bucket)
        row = self.conn.execute(
            "SELECT at FROM rate_log WHERE type=? AND key=? AND member=?", (typ, key, task_id)
        ).fetchone()
        if row is not None and row[0] <= self.now:
            # woken for this moment: the starts (and earlier reservations) up to now
            # count, not the reservations of tasks woken for later moments
            (n,) = self.conn.execute(
                "SELECT COUNT(*) FROM rate_log WHERE type=? AND key=? AND at <= ?",
                (typ, key, self.now),
            ).fetchone()
            n -= 1
        else:
            (n,) = self.conn.execute(
                "SELECT COUNT(*) FROM rate_log WHERE type=? AND key=?", (typ, key)
            ).fetchone()
            n -= row is not None
        return bool(n < rate.count)

    def admit(self, task_id: str, task_type: str, key: str | None) -> bool:
        """Record a start if every rate over the task has room now; else forget the
        task's reservations (it is parked again) and say no."""
        buckets = self.buckets(task_type, key)
        if not buckets:
            return True
        ok = all(self._has_room(b, task_id) for b in buckets)
        self.release(task_id)
        if ok:
            self.conn.executemany(
                "INSERT OR REPLACE INTO rate_log (type, key, member, at) VALUES (?, ?, ?, ?)",
                [(t, k, f"{task_id}@{self.now!r}", self.now) for t, k, _ in buckets],
            )
        return ok

    def release(self, task_id: str) -> None:
        """Drop the reservations of a task (parked again, or ended before it started)."""
        if self.any():
            self.conn.execute("DELETE FROM rate_log WHERE member=?", (task_id,))

    def slot(self, bucket: Bucket) -> float:
        """The first moment the bucket has room for one more start: now, or when the
        start that keeps it full leaves the window. Each reservation is paid for by a
        distinct start leaving, so the window never holds more than N."""
        typ, key, rate = bucket
        self._trim(bucket)
        (n,) = self.conn.execute(
            "SELECT COUNT(*) FROM rate_log WHERE type=? AND key=?", (typ, key)
        ).fetchone()
        if n < rate.count:
            return self.now
        member, at = self.conn.execute(
            "SELECT member, at FROM rate_log WHERE type=? AND key=? ORDER BY at LIMIT 1 OFFSET ?",
            (typ, key, n - rate.count),
        ).fetchone()
        if "@" not in member:
            # a reservation frees nothing until its task has started (it may start
            # late, and the window then holds it longer): not within the horizon
            return max(self.horizon(), float(at) + rate.period)
        return max(self.now, float(at) + rate.period)

    def horizon(self) -> float:
        return self.now + WAKE_AHEAD

    def reserve(self, task_id: str, buckets: list[Bucket], at: float) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO rate_log (type, key, member, at) VALUES (?, ?, ?, ?)",
            [(t, k, task_id, at) for t, k, _ in buckets],
        )

    def rated_types(self) -> list[str]:
        if not self.any():
            return []
        return [t for (t,) in self.conn.execute("SELECT DISTINCT type FROM rates")]


def set_rate(conn: sqlite3.Connection, task_type: str, key: str | None, rate: Rate | None) -> None:
    target = "" if key is None else key
    if rate is None:
        conn.execute("DELETE FROM rates WHERE type=? AND key=?", (task_type, target))
    else:
        conn.execute(
            "INSERT INTO rates (type, key, rate) VALUES (?, ?, ?) "
            "ON CONFLICT(type, key) DO UPDATE SET rate=excluded.rate",
            (task_type, target, encode(rate)),
        )
    if conn.execute("SELECT 1 FROM rates WHERE type=? LIMIT 1", (task_type,)).fetchone() is None:
        conn.execute("DELETE FROM rate_log WHERE type=?", (task_type,))


def all_rates(conn: sqlite3.Connection) -> dict[str, dict[str, Rate]]:
    out: dict[str, dict[str, Rate]] = {}
    for typ, key, rate in conn.execute("SELECT type, key, rate FROM rates ORDER BY type, key"):
        out.setdefault(typ, {})[key] = decode(rate)
    return out
