"""RedisStore specifics of task dependencies (the contract is in ``DependencyContract``):
what a rolled-back graph leaves behind."""

from __future__ import annotations

from typing import Any

from xqueue_redis import RedisStore

from xqueue_core.ids import new_id
from xqueue_core.models import Task


async def test_a_discarded_graph_leaves_no_key_behind(store: RedisStore, raw: Any) -> None:
    """Discard (a create whose publish failed) of a chord and of a child of a task kept:
    the members' hashes, the workflow's index and every parent's ``kids:`` list go."""
    base = store.keys.base
    outside = Task(id=new_id(), type="t")
    await store.create([outside], 60.0)
    before = sorted([k async for k in raw.scan_iter(match=f"{base}*")])
    members = [Task(id=new_id(), type="t", workflow="wf-x") for _ in range(3)]
    callback = Task(id=new_id(), type="t", workflow="wf-x", depends_on=[m.id for m in members])
    child = Task(id=new_id(), type="t", depends_on=[outside.id])
    await store.create([*members, callback, child], 60.0)
    assert await raw.exists(f"{base}kids:{members[0].id}", f"{base}wf:wf-x") == 2
    await store.discard([m.id for m in (*members, callback, child)])
    left = sorted([k async for k in raw.scan_iter(match=f"{base}*")])
    # the outside task keeps its list of children (its end releases nothing: they are gone)
    assert set(left) - set(before) <= {f"{base}kids:{outside.id}", store.keys.events}
