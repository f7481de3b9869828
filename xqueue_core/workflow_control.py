"""The XQueue methods of workflows (DESIGN §7.2): chains, groups, chords and DAGs,
each submitted in one atomic store call, and reading, waiting for and cancelling
them. See :mod:`xqueue_core.workflows` for the primitive (``depends_on``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .errors import TaskAlreadyFinished, ValidationError, WorkflowNotFound
from .ids import new_id
from .validation import check_idempotency_key, check_submit
from .workflows import (
    MEMBER_PAGE,
    PARTLY_KEYED,
    Node,
    Workflow,
    WorkflowState,
    check_on_parent_failure,
    dependency_store,
    graph_order,
    member_key,
    workflow_id_of,
)

if TYPE_CHECKING:
    from .interfaces import Backends
    from .models import Task
    from .settings import Settings
    from .validation import SubmitRequest

NOT_IN_A_NODE = ("depends_on", "debounce", "debounce_max", "idempotency_key")


class WorkflowControl:
    """Mixed into :class:`~xqueue_core.XQueue`."""

    @property
    def settings(self) -> Settings:
        raise NotImplementedError

    def backends(self) -> Backends:
        raise NotImplementedError

    async def _check_type(self, task_type: str) -> None:
        raise NotImplementedError

    def build_task(self, req: SubmitRequest, now: float) -> Task:
        raise NotImplementedError

    async def _store_new(self, tasks: list[Task]) -> list[Task]:
        raise NotImplementedError

    async def cancel(self, task_id: str) -> Task:
        raise NotImplementedError

    async def submit_workflow(
        self,
        nodes: Mapping[str, Node],
        edges: Mapping[str, Sequence[str]] | None = None,
        idempotency_key: str | None = None,
    ) -> Workflow:
        """Submit a graph in one atomic store call (every member or, on any bad input,
        none): ``nodes`` by name, ``edges`` each node's parents by name. A member
        waits for its parents (``depends_on``) and carries the workflow's id.

        With ``idempotency_key``, the workflow's id is made of it and each member gets
        an idempotency key made of it and its name (:func:`~xqueue_core.workflows.
        member_key`): submitting the same graph with the same key again returns the
        first workflow and creates nothing (a retried request is safe); another
        graph under a key in use is refused whole."""
        edges = edges or {}
        key = check_idempotency_key(idempotency_key)
        order = graph_order(nodes, edges)
        requests: dict[str, SubmitRequest] = {}
        for name in order:
            node = nodes[name]
            options = dict(node.options)
            if "idempotency_key" in options:
                raise ValidationError(
                    f"node {name!r}: give idempotency_key to the whole workflow "
                    "(each member's is made of it and the member's name)"
                )
            for option in NOT_IN_A_NODE:
                if option in options:
                    raise ValidationError(f"node {name!r}: {option} is not a workflow option")
            parents = tuple(dict.fromkeys(edges.get(name, ()))) or None
            try:
                policy = check_on_parent_failure(options.pop("on_parent_failure", None), parents)
                data = {"type": node.type, "payload": node.payload, **options}
                # the parents' task ids are known once they are built (below)
                requests[name] = replace(
                    check_submit(data, self.settings.max_payload_bytes),
                    depends_on=parents,
                    on_parent_failure=policy,
                )
            except ValidationError as exc:
                raise ValidationError(f"node {name!r}: {exc}") from None
        for task_type in {r.type for r in requests.values()}:
            await self._check_type(task_type)
        store = self.backends().store
        dependency_store(store)
        now = await store.now() if any(r.delay for r in requests.values()) else 0.0
        workflow_id = new_id() if key is None else workflow_id_of(key)
        tasks: dict[str, Task] = {}
        for name in order:
            req = requests[name]
            if req.depends_on:
                req = replace(req, depends_on=tuple(tasks[p].id for p in req.depends_on))
            task = self.build_task(req, now)
            task.workflow = workflow_id
            if key is not None:
                task.idempotency_key = member_key(key, name)
            tasks[name] = task
        try:
            stored = await self._store_new([tasks[name] for name in order])
        except ValidationError as exc:
            if key is None or str(exc) != PARTLY_KEYED:
                raise
            raise ValidationError(
                f"idempotency_key {key!r} is in use by another workflow (or by one whose "
                "tasks are partly no longer kept): nothing was created"
            ) from None
        ids = {name: task.id for name, task in zip(order, stored, strict=True)}
        # a repeat under the same key returns the first submit's members (the store
        # takes a workflow whole: all of them new, or all already there)
        return Workflow(stored[0].workflow or workflow_id, {name: ids[name] for name in nodes})

    async def chain(self, *nodes: Node, idempotency_key: str | None = None) -> Workflow:
        """Each node after the one before (members named ``"0"``, ``"1"``, …); a
        member that does not succeed cancels the rest unless they run anyway."""
        named = {str(i): n for i, n in enumerate(nodes)}
        edges = {str(i): [str(i - 1)] for i in range(1, len(nodes))}
        return await self.submit_workflow(named, edges, idempotency_key)

    async def group(self, *nodes: Node, idempotency_key: str | None = None) -> Workflow:
        """Nodes that run side by side, as one workflow (members ``"0"``, ``"1"``, …)."""
        named = {str(i): n for i, n in enumerate(nodes)}
        return await self.submit_workflow(named, None, idempotency_key)

    async def chord(
        self, members: Sequence[Node], callback: Node, idempotency_key: str | None = None
    ) -> Workflow:
        """A group and a callback (member ``"callback"``) that runs once every member
        ended, with their results in ``ctx.parents``."""
        named: dict[str, Node] = {str(i): n for i, n in enumerate(members)}
        edges = {"callback": list(named)}
        named["callback"] = callback
        return await self.submit_workflow(named, edges, idempotency_key)

    async def get_workflow(self, workflow_id: str) -> WorkflowState:
        """The members of a workflow now (read :data:`MEMBER_PAGE` at a time);
        raises :class:`WorkflowNotFound`."""
        store = dependency_store(self.backends().store)
        tasks: list[Task] = []
        cursor: str | None = None
        while True:
            page = await store.workflow_tasks(workflow_id, cursor, MEMBER_PAGE)
            tasks += page.tasks
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        if not tasks:
            raise WorkflowNotFound(f"no workflow {workflow_id!r}")
        return WorkflowState(workflow_id, tasks)

    async def wait_workflow(
        self, workflow_id: str, timeout: float | None = None, poll: float = 0.2
    ) -> WorkflowState:
        """Wait until every member of the workflow ended; raises :class:`TimeoutError`
        after ``timeout`` seconds."""
        give_up = None if timeout is None else time.monotonic() + timeout
        while True:
            state = await self.get_workflow(workflow_id)
            if state.terminal:
                return state
            if give_up is not None and time.monotonic() >= give_up:
                raise TimeoutError(
                    f"workflow {workflow_id} still {state.status} after {timeout} s: "
                    f"{state.counts()}"
                )
            await asyncio.sleep(poll)

    async def cancel_workflow(self, workflow_id: str) -> WorkflowState:
        """Cancel every member that has not ended (running ones are asked to stop,
        as :meth:`cancel` does); the workflow as it is then."""
        for task in (await self.get_workflow(workflow_id)).tasks:
            if not task.terminal:
                try:
                    await self.cancel(task.id)
                except TaskAlreadyFinished:
                    pass  # it ended meanwhile (or a parent's cancel ended it)
        return await self.get_workflow(workflow_id)
