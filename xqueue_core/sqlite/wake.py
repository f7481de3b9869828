"""Wake-ups in the embedded store: which parked tasks become due when room frees.

Round-robin over the type's keys with parked tasks (tasks without a key count as
the key ``""``), from the key after the one woken last, over the keys whose next
task is in the highest priority band any of them has (high > 0, normal 0, low <
0); a key takes as many tasks per turn as its weight (1 unless set). Within a key,
highest priority, then oldest, first. No key gets more than its free slots; under
a rate, a task is woken for the moment its rates have room (reserved for it), at
most :data:`~xqueue_core.rates.WAKE_AHEAD` ahead.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .store import Tx

Outcome = Literal["woken", "not now", "rate full"]


def band(priority: int) -> int:
    """The priority band of a parked task: 1 high, 0 normal, -1 low (the brokers'
    default bands)."""
    return (priority > 0) - (priority < 0)


@dataclass
class _Turns:
    """One wake-up's view of the type's keys."""

    t: Tx
    task_type: str
    heads: dict[str, int | None]  # per key: its next task's priority (None: nothing left)
    free: dict[str, int | None] = field(default_factory=dict)  # free slots (None: no limit)

    def wake_head(self, key: str, top: int) -> Outcome:
        """Make the key's next task due, if it may start (soon, under a rate)."""
        t, task_type = self.t, self.task_type
        left, priority = self.free[key], self.heads[key]
        if (left is not None and left <= 0) or priority is None or band(priority) != top:
            return "not now"
        at, buckets = t.now, t.rates.buckets(task_type, key or None)
        if buckets:
            # the first moment every rate over the task has room: reserved for it, and
            # it is due then (a later moment waits for a later wake-up)
            at = max(t.rates.slot(b) for b in buckets)
            if at >= t.rates.horizon():
                own = t.rates.buckets(task_type, None)
                if own and t.rates.slot(own[0]) >= t.rates.horizon():
                    return "rate full"  # the type's own: no key may start for now
                self.free[key] = 0
                return "not now"
        head = t.conn.execute(
            "SELECT id FROM tasks WHERE parked=1 AND type=? AND COALESCE(flow_key, '')=? "
            "ORDER BY priority DESC, id LIMIT 1",
            (task_type, key),
        ).fetchone()
        if head is None:
            self.heads[key] = None
            return "not now"
        if buckets:
            t.rates.reserve(head[0], buckets, at)
        t.conn.execute("UPDATE tasks SET parked=0, publish_at=? WHERE id=?", (at, head[0]))
        self.heads[key] = t.conn.execute(
            "SELECT MAX(priority) FROM tasks WHERE parked=1 AND type=? "
            "AND COALESCE(flow_key, '')=?",
            (task_type, key),
        ).fetchone()[0]
        if left is not None:
            self.free[key] = left - 1
        return "woken"

    def top_band(self) -> int | None:
        """The highest band of a key that may take a task now."""
        ready = [
            band(p)
            for k, p in self.heads.items()
            if p is not None and ((f := self.free[k]) is None or f > 0)
        ]
        return max(ready) if ready else None


def wake_parked(t: Tx, task_type: str, count: int | None) -> None:
    """Make up to ``count`` parked tasks of the type due (all that may start: None);
    none while the type is paused."""
    if count is not None and count <= 0:
        return
    conn = t.conn
    if not conn.execute(
        "SELECT 1 FROM tasks WHERE parked=1 AND type=? LIMIT 1", (task_type,)
    ).fetchone():
        return
    if conn.execute("SELECT 1 FROM paused WHERE type=?", (task_type,)).fetchone():
        return  # resume wakes them
    heads: dict[str, int | None] = dict(
        conn.execute(
            "SELECT COALESCE(flow_key, ''), MAX(priority) FROM tasks WHERE parked=1 "
            "AND type=? GROUP BY 1",
            (task_type,),
        ).fetchall()
    )
    weights: dict[str, int] = dict(
        conn.execute("SELECT key, weight FROM key_weights WHERE type=?", (task_type,)).fetchall()
    )
    keys = sorted(heads)
    row = conn.execute("SELECT key, taken FROM key_cursor WHERE type=?", (task_type,)).fetchone()
    # the key woken last, and how many tasks of its turn it took (its weight's worth)
    cur_key, cur_taken = ("", 0) if row is None else (str(row[0]), int(row[1]))
    if row is None:
        start = 0
    elif weights.get(cur_key, 1) > cur_taken:  # the rest of its turn first
        start = bisect.bisect_left(keys, cur_key)
    else:
        start = bisect.bisect_right(keys, cur_key)
    order = keys[start:] + keys[:start]
    turns = _Turns(t, task_type, heads, {k: t.key_free(task_type, k) for k in order})
    woken, last = 0, None
    while count is None or woken < count:
        top = turns.top_band()  # a key whose next task is in a lower band waits its turn
        if top is None:
            break
        before = woken
        for k in order:
            weight = weights.get(k, 1)
            # the tasks this key took of its turn (a turn goes on where it stopped)
            used = cur_taken if k == cur_key and cur_taken < weight else 0
            for _ in range(weight - used):
                if count is not None and woken >= count:
                    break
                outcome = turns.wake_head(k, top)
                if outcome == "rate full":
                    count = woken
                    break
                if outcome == "not now":
                    break
                used += 1
                woken, last, cur_key, cur_taken = woken + 1, k, k, used
            if count is not None and woken >= count:
                break
        if woken == before:
            break
    if last is not None:
        conn.execute(
            "INSERT INTO key_cursor (type, key, taken) VALUES (?, ?, ?) "
            "ON CONFLICT(type) DO UPDATE SET key=excluded.key, taken=excluded.taken",
            (task_type, last, cur_taken),
        )
