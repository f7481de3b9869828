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
-- how many entries each bucket's log holds (COUNT(*) would read them all per claim)
CREATE TABLE IF NOT EXISTS rate_size (
    type TEXT NOT NULL, key TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (type, key)
);
"""

Bucket = tuple[str, str, Rate]  # type, key ('' for the type's own), its rate


class RateBook:
    """The rates one transaction looks at, read once per type."""

    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        self.conn = conn
        self.now = now
        self._of_type: dict[str, dict[str, Rate]] = {}
        self._any: bool | None = None
        self._sizes: dict[tuple[str, str], int] = {}  # read once, kept up to date
        self._changed: dict[tuple[str, str], int] = {}  # written by flush()

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
        """Drop the entries older than the window, once per bucket per transaction
        (its clock does not move)."""
        typ, key, rate = bucket
        if (typ, key) in self._sizes:
            return
        self._sizes[(typ, key)] = self._read_size(typ, key)
        gone = self.conn.execute(
            "DELETE FROM rate_log WHERE type=? AND key=? AND at <= ?",
            (typ, key, self.now - rate.period),
        ).rowcount
        self._resize(typ, key, -gone)

    def _resize(self, typ: str, key: str, by: int) -> None:
        if (typ, key) in self._sizes:
            self._sizes[(typ, key)] += by
        self._changed[(typ, key)] = self._changed.get((typ, key), 0) + by

    def flush(self) -> None:
        """Write the sizes this transaction changed (the store calls it before the
        commit; one write per bucket, not one per start)."""
        rows = [(t, k, by) for (t, k), by in self._changed.items() if by]
        if rows:
            self.conn.executemany(
                "INSERT INTO rate_size (type, key, n) VALUES (?, ?, ?) "
                "ON CONFLICT(type, key) DO UPDATE SET n = n + excluded.n",
                rows,
            )
        self._changed.clear()

    def _size(self, typ: str, key: str) -> int:
        got = self._sizes.get((typ, key))
        return self._read_size(typ, key) if got is None else got

    def _read_size(self, typ: str, key: str) -> int:
        row = self.conn.execute(
            "SELECT n FROM rate_size WHERE type=? AND key=?", (typ, key)
        ).fetchone()
        return (0 if row is None else int(row[0])) + self._changed.get((typ, key), 0)

    def _add(self, task_type: str, key: str, member: str, at: float) -> None:
        self.conn.execute(
            "INSERT INTO rate_log (type, key, member, at) VALUES (?, ?, ?, ?)",
            (task_type, key, member, at),
        )
        self._resize(task_type, key, 1)

    def _reserved(self, bucket: Bucket, task_id: str) -> float | None:
        """The moment reserved for the task in the bucket, if any."""
        typ, key, _ = bucket
        self._trim(bucket)
        row = self.conn.execute(
            "SELECT at FROM rate_log WHERE type=? AND key=? AND member=?", (typ, key, task_id)
        ).fetchone()
        return None if row is None else float(row[0])

    def _has_room(self, bucket: Bucket, own: float | None) -> bool:
        typ, key, rate = bucket
        n = self._size(typ, key)
        if own is not None and own <= self.now:
            # woken for this moment: the starts (and earlier reservations) up to now
            # count, not the reservations of tasks woken for later moments (a few:
            # the wake-ups reserve at most WAKE_AHEAD ahead)
            (ahead,) = self.conn.execute(
                "SELECT COUNT(*) FROM rate_log WHERE type=? AND key=? AND at > ?",
                (typ, key, self.now),
            ).fetchone()
            n -= ahead + 1
        else:
            n -= own is not None
        return bool(n < rate.count)

    def admit(self, task_id: str, task_type: str, key: str | None) -> bool:
        """Record a start if every rate over the task has room now; else forget the
        task's reservations (it is parked again) and say no."""
        buckets = self.buckets(task_type, key)
        if not buckets:
            return True
        owns = [self._reserved(b, task_id) for b in buckets]
        ok = all(self._has_room(b, own) for b, own in zip(buckets, owns, strict=True))
        for (t, k, _), own in zip(buckets, owns, strict=True):
            if own is not None:
                self.conn.execute(
                    "DELETE FROM rate_log WHERE type=? AND key=? AND member=?", (t, k, task_id)
                )
                self._resize(t, k, -1)
            if ok:
                self._add(t, k, f"{task_id}@{self.now!r}", self.now)
        return ok

    def release(self, task_id: str, task_type: str, key: str | None) -> None:
        """Drop the reservations of a task (parked again, or ended before it started)."""
        for t, k, _ in self.buckets(task_type, key):
            gone = self.conn.execute(
                "DELETE FROM rate_log WHERE type=? AND key=? AND member=?", (t, k, task_id)
            ).rowcount
            self._resize(t, k, -gone)

    def slot(self, bucket: Bucket) -> float:
        """The first moment the bucket has room for one more start: now, or when the
        start that keeps it full leaves the window. Each reservation is paid for by a
        distinct start leaving, so the window never holds more than N."""
        typ, key, rate = bucket
        self._trim(bucket)
        n = self._size(typ, key)
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
        """Hold a moment for a woken task in each bucket (it held none: it was parked)."""
        for t, k, _ in buckets:
            self._add(t, k, task_id, at)

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
        conn.execute("DELETE FROM rate_size WHERE type=?", (task_type,))


def all_rates(conn: sqlite3.Connection) -> dict[str, dict[str, Rate]]:
    out: dict[str, dict[str, Rate]] = {}
    for typ, key, rate in conn.execute("SELECT type, key, rate FROM rates ORDER BY type, key"):
        out.setdefault(typ, {})[key] = decode(rate)
    return out
