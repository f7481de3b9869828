"""A hypothesis state machine of the task lifecycle, run against any store.

``make_store_machine(url_factory)`` returns a ``unittest.TestCase`` class;
each example gets a fresh store from ``url_factory()``. The model predicts
every claim, finish and cancel answer and which tasks ``take_due`` hands out
(parked tasks only once a token frees), and after each step the store must
agree with it on every task's status and on the tokens in use per type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from ..interfaces import Store
from ..models import CancelOutcome, ClaimOutcome, Finish, FinishKind, TaskStatus
from .contracts import contract_settings, make_task, open_backend

TYPES = ("a", "b")
WORKERS = ("w1", "w2")
LEASE = 600.0
HOLD = 600.0  # take_due's hold and the publish grace: nothing becomes due by the clock


def make_store_machine(
    url_factory: Callable[[], str], max_examples: int = 50, autoload_plugins: bool = True
) -> type:
    """Build the state-machine TestCase for stores made from ``url_factory()``."""

    class StoreLifecycle(RuleBasedStateMachine):
        tasks = Bundle("tasks")

        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.store: Store = self.run(
                open_backend("store", url_factory(), contract_settings(), autoload_plugins)
            )
            self.status: dict[str, TaskStatus] = {}
            self.owner: dict[str, str] = {}
            self.type_of: dict[str, str] = {}
            # type "a" starts saturated-prone, so deferrals and wake-ups happen often
            self.limit: dict[str, int | None] = {"a": 1, "b": None}
            self.run(self.store.set_limit("a", 1))
            self.due: set[str] = set()  # what take_due hands out next
            self.parked: set[str] = set()  # deferred, waiting for a token

        def run(self, coro: Any) -> Any:
            return self.loop.run_until_complete(coro)

        def teardown(self) -> None:
            self.run(self.store.close())
            self.loop.close()

        def running(self, task_type: str) -> int:
            return sum(
                1
                for i, s in self.status.items()
                if s == TaskStatus.PROCESSING and self.type_of[i] == task_type
            )

        def wake(self, task_type: str, count: int | None) -> None:
            """Parked tasks of the type become due, oldest first (all have priority 0)."""
            waiting = sorted(i for i in self.parked if self.type_of[i] == task_type)
            for task_id in waiting if count is None else waiting[: max(count, 0)]:
                self.parked.discard(task_id)
                self.due.add(task_id)

        def free(self, task_type: str) -> int | None:
            cap = self.limit[task_type]
            return None if cap is None else cap - self.running(task_type)

        @rule(target=tasks, task_type=st.sampled_from(TYPES))
        def create(self, task_type: str) -> str:
            task = make_task(task_type)
            [(_, created)] = self.run(self.store.create([task], HOLD))
            assert created
            self.status[task.id] = TaskStatus.PENDING
            self.type_of[task.id] = task_type
            return task.id

        @rule(
            task_ids=st.lists(tasks, min_size=1, max_size=3, unique=True),
            worker=st.sampled_from(WORKERS),
        )
        def claim(self, task_ids: list[str], worker: str) -> None:
            claims, _ = self.run(self.store.claim(task_ids, worker, LEASE))
            assert [c.task_id for c in claims] == task_ids
            for task_id, claim in zip(task_ids, claims, strict=True):
                task_type = self.type_of[task_id]
                cap = self.limit[task_type]
                if self.status[task_id] != TaskStatus.PENDING:
                    assert claim.outcome == ClaimOutcome.GONE
                elif cap is not None and self.running(task_type) >= cap:
                    assert claim.outcome == ClaimOutcome.DEFERRED
                    self.due.discard(task_id)
                    self.parked.add(task_id)
                else:
                    assert claim.outcome == ClaimOutcome.STARTED
                    self.status[task_id] = TaskStatus.PROCESSING
                    self.owner[task_id] = worker
                    self.due.discard(task_id)
                    self.parked.discard(task_id)

        @rule(
            task_id=tasks,
            worker=st.sampled_from(WORKERS),
            kind=st.sampled_from(
                [
                    FinishKind.SUCCESS,
                    FinishKind.FAILED,
                    FinishKind.TIMEOUT,
                    FinishKind.CANCELED,
                    FinishKind.RETRY,
                    FinishKind.RELEASE,
                ]
            ),
        )
        def finish(self, task_id: str, worker: str, kind: FinishKind) -> None:
            applied, _ = self.run(
                self.store.finish([Finish(task_id, worker, kind, error="e", retry_delay=0.0)])
            )
            expected = (
                self.status[task_id] == TaskStatus.PROCESSING and self.owner[task_id] == worker
            )
            assert applied == [expected]
            if expected:
                again = kind in (FinishKind.RETRY, FinishKind.RELEASE)
                self.status[task_id] = TaskStatus.PENDING if again else TaskStatus(str(kind))
                if again:
                    self.due.add(task_id)
                self.wake(self.type_of[task_id], 1)  # its token came free

        @rule(task_id=tasks)
        def cancel(self, task_id: str) -> None:
            result, _ = self.run(self.store.cancel(task_id))
            assert result is not None
            before = self.status[task_id]
            if before == TaskStatus.PENDING:
                assert result.outcome == CancelOutcome.CANCELED
                self.status[task_id] = TaskStatus.CANCELED
                self.due.discard(task_id)
                self.parked.discard(task_id)
            elif before == TaskStatus.PROCESSING:
                assert result.outcome == CancelOutcome.REQUESTED
            else:
                assert result.outcome == CancelOutcome.FINISHED

        @rule(task_type=st.sampled_from(TYPES), limit=st.none() | st.integers(0, 3))
        def set_limit(self, task_type: str, limit: int | None) -> None:
            self.run(self.store.set_limit(task_type, limit))
            self.limit[task_type] = limit
            self.wake(task_type, self.free(task_type))

        @rule()
        def maintain(self) -> None:
            # no lease, deadline or retention ends here: upkeep only wakes parked tasks of
            # types with free tokens (a task woken by a finish may have been canceled since)
            assert self.run(self.store.maintain(5)) == []
            for task_type in TYPES:
                self.wake(task_type, self.free(task_type))

        @invariant()
        def store_agrees(self) -> None:
            for task_id, status in self.status.items():
                task = self.run(self.store.get(task_id))
                assert task is not None and task.status == status, (task_id, task, status)
            running = self.run(self.store.running())
            for task_type in TYPES:
                assert running.get(task_type, 0) == self.running(task_type)

        @invariant()
        def listings_agree(self) -> None:
            counts = self.run(self.store.counts())["status"]
            for status in TaskStatus:
                expected = {i for i, s in self.status.items() if s == status}
                assert counts.get(str(status), 0) == len(expected), (status, counts)
                for task_type in (None, *TYPES):
                    page = self.run(self.store.list_tasks(status, task_type, limit=1000))
                    wanted = {i for i in expected if task_type in (None, self.type_of[i])}
                    assert {t.id for t in page.tasks} == wanted, (status, task_type)

        @invariant()
        def due_tasks_agree(self) -> None:
            # take_due holds what it hands out for HOLD seconds: each is handed out once
            messages = self.run(self.store.take_due(100, HOLD))
            assert {m.task_id for m in messages} == self.due
            self.due.clear()

    StoreLifecycle.TestCase.settings = hypothesis_settings(
        max_examples=max_examples, stateful_step_count=30, deadline=None
    )
    return StoreLifecycle.TestCase
