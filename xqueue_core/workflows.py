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

from collections.abc import Sequence
from typing import Any

from .errors import ValidationError
from .interfaces import DependencyStore, Store
from .models import Task

ON_PARENT_FAILURE = ("cancel", "run")
MAX_PARENTS = 10_000  # parents of one task at most
MAX_ID_LENGTH = 64
PARENT_PAGE = 500  # parents' results read per store call when a child starts


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
