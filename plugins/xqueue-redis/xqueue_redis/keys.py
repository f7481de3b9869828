"""Key names, shared by every xqueue role on Redis (the store and the Streams broker).

Every key of one app starts with ``{prefix}:``. The braces are a Redis Cluster
hash tag: all keys of an app hash to one slot, so each Lua script (which
touches a task, its indexes and its type's token set at once) stays on one
node. Apps with different prefixes share one Redis (or spread over a cluster's
shards) without seeing each other's keys.

=====================  ============  =================================================
key                    type          holds
=====================  ============  =================================================
``t:{id}``             hash          one task record (plus lease, deadline, flags)
``all``                zset (lex)    every task id, for listing newest first
``y:{type}``           zset (lex)    task ids by type
``ys:{type}:{status}`` zset (lex)    task ids by type and status (by status alone:
                                     merged over the types); none for
                                     ``processing``: ``run:{type}`` lists those
``tt``                 set           types that have tasks (for counts)
``idem``               hash          idempotency key -> task id
``pub``                zset          pending task -> when to hand it to ``take_due``
                                     (an entry of a task no longer pending is dropped
                                     there)
``dl``                 zset          pending task -> queue-timeout deadline
``run:{type}``         zset          the type's tokens: running task -> lease expiry
                                     (upkeep finds expired leases here)
``park:{type}``        zset          deferred tasks without a flow key of a saturated
                                     type, by priority
``runk:{type}/{key}``  zset          a flow key's running tasks -> lease expiry (only
                                     while the type has key limits)
``pq:{type}/{key}``    zset          a flow key's deferred tasks, by priority, then id
``pk:{type}``          zset (lex)    flow keys with deferred tasks that may be woken
``pb:{type}``          zset (lex)    flow keys with deferred tasks at their limits
``pkh:{type}``         zset (lex)    keys to wake whose next parked task is high
                                     (priority > 0); ``pkl:{type}`` low (< 0)
``pp:{type}``          string        the type parked a task with a priority other
                                     than 0: the two sets above are kept
``rr:{type}``          string        the flow key woken last ('' for none)
``klimits:{type}``     hash          flow key -> its limit (``*``: every key's default)
``klimits``            set           types with key limits
``rates:{type}``       hash          rate limits ('' the type's, '*' every key's)
``rated``              set           types with rates
``rl:{type}``          zset          a rate's window log: starts (id@time) and
                                     reserved moments (id); ``rlk:{type}/{key}``
                                     the same for one key
``pr:{type}``          zset          keys whose rates are full -> when to look again
``rw``                 zset          rate-limited types with parked tasks -> next
                                     wake-up by ``take_due``
``deb:{type}``         hash          flow key -> "task-id opened-at" of its last
                                     debounce window
``sched:{name}``       hash          a periodic schedule and its next tick
``schedn``             zset (lex)    every schedule's name
``schedq``             zset          enabled schedule -> its next tick
``exp``                zset          terminal task -> when retention ends
``done:{id}``          stream        the final record of a task a client waits on
                                     (``waited`` field), kept 60 s after its end
``limits``             hash          type -> cluster-wide concurrency limit
``paused``             hash          paused type -> when it was paused (its limit kept)
``workers``            hash          live worker id -> its last report (JSON)
``workers:exp``        zset          worker id -> when it counts as gone
``types``              hash          type -> last time a worker announced it
``types:w``            hash          type -> the worker that announced it last
``types:d``            hash          type -> its handler's defaults (JSON)
``events``             stream        the event log (capped)
``q:{band}``           stream        broker: messages of one priority band (high,
                                     normal, low), consumer group ``workers``
=====================  ============  =================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from xqueue_core.models import TaskStatus


@dataclass(frozen=True, slots=True)
class Keys:
    """Names of an app's keys under one prefix."""

    prefix: str

    @property
    def base(self) -> str:
        """What every key starts with, hash tag included (``{xqueue}:``)."""
        return f"{{{self.prefix}}}:"

    def key(self, name: str) -> str:
        return self.base + name

    @property
    def anchor(self) -> str:
        """The key declared to every script (routes it to the app's slot on a cluster)."""
        return self.key("all")

    @property
    def events(self) -> str:
        return self.key("events")

    @property
    def limits(self) -> str:
        return self.key("limits")

    @property
    def paused(self) -> str:
        return self.key("paused")

    @property
    def types(self) -> str:
        return self.key("types")

    @property
    def type_defaults(self) -> str:
        return self.key("types:d")

    def task(self, task_id: str) -> str:
        return self.key(f"t:{task_id}")

    def done(self, task_id: str) -> str:
        """The stream where a waited-on task's end leaves its final record."""
        return self.key(f"done:{task_id}")

    def index(self, status: TaskStatus | None, task_type: str | None) -> str | None:
        """The listing index for a filter (both, one or neither); None for a status
        alone, which has one index per type (``list.lua`` merges them), and for
        ``processing``, whose tasks are listed from the types' token sets."""
        if status == TaskStatus.PROCESSING:
            return None
        if status is not None and task_type is not None:
            return self.key(f"ys:{task_type}:{status}")
        if status is not None:
            return None
        if task_type is not None:
            return self.key(f"y:{task_type}")
        return self.key("all")
