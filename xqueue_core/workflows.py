"""Task dependencies (DESIGN §7.2): a task submitted with ``depends_on`` waits for
its parents and is released by the store when the last of them ends.

The primitive is ``depends_on`` (parent task ids) with ``on_parent_failure``:
``cancel`` (the default: a parent that did not succeed cancels the child, with an
error naming it) or ``run`` (the child runs once every parent ended, whatever
their outcome). A task whose parents have not all ended is ``waiting``. The store
(the :class:`~xqueue_core.interfaces.DependencyStore` role) releases it in the
same atomic step as its last parent's terminal transition: no polling, no
separate process. A handler reads its parents' results from ``ctx.parents``
(id → result), loaded page by page (:data:`PARENT_PAGE` at a time) before it runs.

A waiting task's queue timeout starts when it is released. A parent that is no
longer kept (past ``result_ttl``) when its child runs shows as None in
``ctx.parents``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ValidationError
from .interfaces import DependencyStore, Store
from .models import Task, TaskStatus

ON_PARENT_FAILURE = ("cancel", "run")
DEFAULT_ON_PARENT_FAILURE = "cancel"  # set by the core; a store takes all but "run" as it
MAX_PARENTS = 10_000  # parents of one task at most
MAX_ID_LENGTH = 64
PARENT_PAGE = 500  # parents' results read per store call when a child starts
MAX_NODES = 20_000  # members of one workflow at most (a 10,000 fan-out and its fan-in fit)
MEMBER_PAGE = 500  # members read per store call by get_workflow
# a store's error for a create in which some members of a workflow have idempotency
# keys in use and others do not
PARTLY_KEYED = "a workflow's idempotency keys are partly in use: another graph under its key?"


def check_depends_on(value: Any) -> tuple[str, ...] | None:
    """``depends_on``: a list of 1 … :data:`MAX_PARENTS` task ids (repeats count once)."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValidationError(f"depends_on must be a list of task ids, got {value!r}")
    if not 1 <= len(value) <= MAX_PARENTS:
        raise ValidationError(f"depends_on must name 1 to {MAX_PARENTS} tasks, got {len(value)}")
    for item in value:
        if not isinstance(item, str) or not 1 <= len(item) <= MAX_ID_LENGTH:
            raise ValidationError(f"depends_on: {item!r} is not a task id")
    return tuple(dict.fromkeys(value))


def check_on_parent_failure(value: Any, depends_on: tuple[str, ...] | None) -> str | None:
    """``on_parent_failure``: ``cancel`` or ``run``, and only with ``depends_on``."""
    if value is None:
        return None
    if value not in ON_PARENT_FAILURE:
        raise ValidationError(
            f"on_parent_failure must be one of {', '.join(ON_PARENT_FAILURE)}, got {value!r}"
        )
    if depends_on is None:
        raise ValidationError("on_parent_failure needs depends_on")
    return str(value)


def workflow_id_of(key: str) -> str:
    """The id of the workflow submitted with the idempotency key ``key``: ``wf-`` and
    24 hex digits of a SHA-256 of it (the same key, the same workflow)."""
    return "wf-" + hashlib.sha256(f"workflow\0{key}".encode()).hexdigest()[:24]


def member_key(key: str, name: str) -> str:
    """The idempotency key of the member ``name`` of a workflow submitted with ``key``:
    ``wf:`` and a SHA-256 of both (a fixed length, whatever the names)."""
    digest = hashlib.sha256(f"{key}\0{name}".encode()).hexdigest()
    return f"wf:{digest}"


def dependency_store(store: Store) -> DependencyStore:
    """The store as a :class:`DependencyStore`, or a one-line error saying it is not."""
    if not isinstance(store, DependencyStore):
        raise ValidationError(
            f"the store {store.url} keeps no task dependencies: depends_on needs a store "
            "with the DependencyStore role (the embedded store has it)"
        )
    return store


async def parent_results(store: Store, task: Task) -> dict[str, Any]:
    """The results of a task's parents (id → result), read :data:`PARENT_PAGE` at a
    time (no store call carries all of a 10,000-parent fan-in at once)."""
    if not task.depends_on or not isinstance(store, DependencyStore):
        return {}
    out: dict[str, Any] = {}
    offset: int | None = 0
    while offset is not None:
        page, offset = await store.parent_results(task.id, offset, PARENT_PAGE)
        out.update(page)
    return out


@dataclass(frozen=True, slots=True)
class Node:
    """One member of a workflow to submit: a task type, its payload and the submit
    options of :meth:`~xqueue_core.XQueue.submit` (not ``depends_on``: the graph's
    edges give it; ``on_parent_failure`` applies to a member with parents)."""

    type: str
    payload: Mapping[str, Any] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, task_type: str, payload: Mapping[str, Any] | None = None, **options: Any) -> Node:
        return cls(task_type, payload, options)


@dataclass(frozen=True, slots=True)
class Workflow:
    """A submitted workflow: its id and each member's task id, by node name."""

    id: str
    task_ids: dict[str, str]


@dataclass(frozen=True, slots=True)
class WorkflowState:
    """A workflow's members as the store has them now, and what they add up to:
    ``running`` while any member has not ended, then ``success`` when all
    succeeded, ``failed`` when any failed or timed out, else ``canceled``."""

    id: str
    tasks: list[Task]

    @property
    def status(self) -> str:
        statuses = {t.status for t in self.tasks}
        if any(not s.terminal for s in statuses):
            return "running"
        if statuses <= {TaskStatus.SUCCESS}:
            return "success"
        if statuses & {TaskStatus.FAILED, TaskStatus.TIMEOUT}:
            return "failed"
        return "canceled"

    @property
    def terminal(self) -> bool:
        return self.status != "running"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tasks:
            out[str(t.status)] = out.get(str(t.status), 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "counts": self.counts(),
            "tasks": [t.to_dict() for t in self.tasks],
        }


def graph_order(nodes: Mapping[str, Node], edges: Mapping[str, Sequence[str]]) -> list[str]:
    """The node names, every node after its parents (``edges``: node -> parents);
    a one-line :class:`ValidationError` for an empty or oversized graph, an edge
    naming an unknown node, or a cycle (named)."""
    if not nodes:
        raise ValidationError("a workflow needs at least one task")
    if len(nodes) > MAX_NODES:
        raise ValidationError(f"a workflow has at most {MAX_NODES} tasks, got {len(nodes)}")
    for child, parents in edges.items():
        for name in (child, *parents):
            if name not in nodes:
                raise ValidationError(f"edge {child!r} <- {list(parents)!r}: no node {name!r}")
    order: list[str] = []
    state: dict[str, int] = {}  # 1: being visited, 2: placed
    for root in nodes:
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            name, index = stack.pop()
            if index == 0:
                if state.get(name) == 2:
                    continue
                state[name] = 1
            parents = list(edges.get(name, ()))
            if index < len(parents):
                stack.append((name, index + 1))
                parent = parents[index]
                if state.get(parent) == 1:
                    path = [n for n, _ in stack] + [parent]
                    cycle = path[path.index(parent) :]
                    raise ValidationError(f"the graph has a cycle: {' <- '.join(cycle)}")
                if state.get(parent) != 2:
                    stack.append((parent, 0))
            else:
                state[name] = 2
                order.append(name)
    return order
