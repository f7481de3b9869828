"""The worker: takes messages, claims tasks, runs handlers, records outcomes."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from . import presence, ticker
from .backoff import retry_delay
from .batching import Batcher
from .context import TaskContext, mark_cancelled, progress_reported
from .errors import TaskCancelled
from .executors import ChildProcessError_, ProcessExecutor, run_in_thread
from .leases import LeaseKeeper
from .logs import get_logger
from .models import (
    ClaimOutcome,
    Delivery,
    Finish,
    FinishKind,
    Heartbeat,
    Task,
    TaskEvent,
    WorkerInfo,
)
from .workflows import parent_results

if TYPE_CHECKING:
    from .app import XQueue
    from .handlers import HandlerSpec
    from .interfaces import Broker, Store

log = get_logger("xqueue.worker")
ANNOUNCE_INTERVAL = 15.0
SCHEDULE_INTERVAL = 0.05
SCHEDULE_BATCH = 500
OUTCOME_BACKLOG = 2  # runs in a worker (running or awaiting their outcome's write): x concurrency
FOREIGN_BACKOFF = 0.02  # first pause after a fetch brought only types this worker does not run


def make_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(slots=True)
class _Run:
    task: Task
    delivery: Delivery
    ctx: TaskContext
    job: asyncio.Task[None] | None = None
    stop_reason: str | None = None  # "canceled" | "lost" | "shutdown"
    executing: bool = True  # its handler has not returned yet (it holds a slot)


class Worker:
    """Runs the app's handlers with up to ``concurrency`` tasks at a time.

    Use :meth:`run` (until :meth:`stop`), or ``async with worker:`` around
    other code. Settings come from the app; keyword options override them.
    """

    def __init__(
        self,
        app: XQueue,
        *,
        concurrency: int | None = None,
        task_types: Sequence[str] | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.app = app
        settings = app.settings
        self.settings = settings
        self.concurrency = concurrency or settings.concurrency
        self.worker_id = worker_id or make_worker_id()
        handlers = app.handlers
        self.task_types = list(task_types) if task_types is not None else sorted(handlers)
        self._runs: dict[str, _Run] = {}  # runs not yet recorded, handlers done or not
        self._executing = 0  # runs whose handler has not returned: at most `concurrency`
        self._slot_free = asyncio.Event()
        self._schedule_now = asyncio.Event()
        self._limited: set[str] = set()  # types whose claims were deferred (at their limit)
        self._stopping = asyncio.Event()
        self._hurry = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._process_pool: ProcessExecutor | None = None
        self._keeper: LeaseKeeper | None = None
        self._finisher: Batcher[tuple[Finish, Delivery], bool] | None = None
        self._progress_pending: dict[str, float] = {}
        self._progress_jobs: dict[str, asyncio.Task[None]] = {}
        self._acks: set[asyncio.Task[None]] = set()
        self._loop_thread = 0  # the event loop's thread (set by start)
        hooks = app.plugins.hooks  # per-task hooks are called only when implemented
        self._hooked_before = hooks.implemented("xqueue_before_execute")
        self._hooked_after = hooks.implemented("xqueue_after_execute")
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.completed = 0

    # -- life ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the backends and start taking tasks."""
        app = self.app
        self._loop_thread = threading.get_ident()
        await app.open()
        try:
            _, store = app.backends()
            unknown = [t for t in self.task_types if t not in app.handlers]
            if unknown:
                raise ValueError(f"no handler for task type(s) {', '.join(unknown)}")
            await self._announce(store)
            await ticker.declare(app, app.declared_schedules)
            self._keeper = LeaseKeeper(
                lambda: app.plugins.create("store", self.settings.store, self.settings),
                self.worker_id,
                self.settings.lease_ttl,
                self.settings.heartbeat_interval,
                self._on_heartbeat,
            )
            await self._keeper.start()
        except BaseException:
            await app.close()
            raise
        self._finisher = Batcher(self._flush_finishes)
        app.plugins.hooks.worker_start(self.worker_id, self.task_types)
        log.info(
            "worker started",
            worker_id=self.worker_id,
            concurrency=self.concurrency,
            task_types=self.task_types,
            broker=self.settings.broker,
            store=self.settings.store,
        )
        self._loops = [
            asyncio.create_task(self._guard(self._fetch_loop), name="xqueue-fetch"),
            asyncio.create_task(self._guard(self._schedule_loop), name="xqueue-schedule"),
            asyncio.create_task(self._guard(self._maintenance_loop), name="xqueue-maintain"),
            asyncio.create_task(self._guard(self._announce_loop), name="xqueue-announce"),
            asyncio.create_task(self._guard(self._tick_loop), name="xqueue-tick"),
            asyncio.create_task(self._guard(self._presence_loop), name="xqueue-presence"),
        ]
        self.started.set()

    async def run(self) -> None:
        """Start, run until :meth:`stop` is called, then shut down gracefully."""
        await self.start()
        try:
            await self._stopping.wait()
        finally:
            await self.shutdown()

    def stop(self, hurry: bool = False) -> None:
        """Ask :meth:`run` to return (safe from a signal handler).

        With ``hurry`` (a second signal), running tasks are handed back at once
        instead of after the grace period.
        """
        self._stopping.set()
        if hurry:
            self._hurry.set()

    async def shutdown(self) -> None:
        """Stop intake, let running tasks finish within the grace period, hand back the rest."""
        if self.stopped.is_set():
            return
        self._stopping.set()
        for loop_task in self._loops:
            loop_task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        jobs = [run.job for run in self._runs.values() if run.job is not None]
        if jobs:
            log.info(
                "waiting for running tasks",
                count=len(jobs),
                grace_period=self.settings.grace_period,
            )
            pending = await self._wait_grace(jobs)
            for run in list(self._runs.values()):
                if run.job is not None and not run.job.done():
                    self._interrupt(run, "shutdown")
            if pending:
                await asyncio.wait(pending)
        await self._drain_progress()
        if self._finisher is not None:
            await self._finisher.drain()
        if self._acks:
            await asyncio.gather(*self._acks, return_exceptions=True)
        if self._keeper is not None:
            await self._keeper.stop()
        if self._process_pool is not None:
            await self._process_pool.close()
        try:
            await self.app.backends().store.forget_worker(self.worker_id)
        except Exception as exc:  # gone from the list a lease later anyway
            log.warning("could not remove this worker from the store", error=str(exc))
        try:
            self.app.plugins.hooks.worker_stop(self.worker_id)
        finally:
            await self.app.close()
            self.stopped.set()
            log.info("worker stopped", worker_id=self.worker_id, completed=self.completed)

    async def _wait_grace(self, jobs: list[asyncio.Task[None]]) -> set[asyncio.Task[None]]:
        """Wait for the jobs until the grace period ends or :meth:`stop` hurries us."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.settings.grace_period
        pending = set(jobs)
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            while pending and not self._hurry.is_set():
                left = give_up - loop.time()
                if left <= 0:
                    break
                done, _ = await asyncio.wait(
                    {*pending, hurry}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                pending -= done
        finally:
            hurry.cancel()
        return pending

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def _guard(self, loop_fn: Any) -> None:
        """Run a background loop; on an unexpected error log it and start it again."""
        delay = 0.1
        while not self._stopping.is_set():
            try:
                await loop_fn()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error(
                    "worker loop failed; retrying",
                    loop=loop_fn.__name__,
                    error=str(exc),
                    delay=delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- background loops -----------------------------------------------------------

    async def _fetch_loop(self) -> None:
        broker, store = self.app.backends()
        lease = self.settings.lease_ttl
        mine = set(self.task_types)
        idle = 0.0
        while not self._stopping.is_set():
            # A slot frees when a handler returns; its outcome is written while the next
            # batch is fetched and claimed. Runs awaiting that write are capped too.
            free = min(
                self.concurrency - self._executing,
                OUTCOME_BACKLOG * self.concurrency - len(self._runs),
            )
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            deliveries = await broker.fetch(free, timeout=1.0)
            if not deliveries:
                continue
            by_id = {d.message.task_id: d for d in deliveries}
            known = [d for d in deliveries if d.message.type in mine]
            foreign = [d for d in deliveries if d.message.type not in mine]
            if foreign:
                await self._hand_back(broker, store, foreign)
            if not known:
                # Only other types' messages came: do not spin handing them back and forth.
                idle = min(max(idle * 2, FOREIGN_BACKOFF), 1.0)
                await asyncio.sleep(idle)
                continue
            idle = 0.0
            claims, events = await store.claim(
                [d.message.task_id for d in known], self.worker_id, lease
            )
            await self.app.events.emit(events)
            done: list[Delivery] = []
            for claim in claims:
                delivery = by_id[claim.task_id]
                if claim.outcome == ClaimOutcome.STARTED and claim.task is not None:
                    self._start_run(claim.task, delivery)
                else:
                    if claim.outcome == ClaimOutcome.DEFERRED:
                        self._limited.add(delivery.message.type)
                    done.append(delivery)
            if done:
                self._ack_later(done)

    async def _schedule_loop(self) -> None:
        """Publish tasks whose time has come: delayed submits, retries, woken parked tasks."""
        broker, store = self.app.backends()
        while not self._stopping.is_set():
            messages = await store.take_due(SCHEDULE_BATCH, self.settings.publish_grace)
            if messages:
                try:
                    await broker.publish(messages)
                except BaseException:
                    # Taken out of "due" for publish_grace: give them back now, so a
                    # process whose broker works publishes them (ours backs off).
                    await self._unqueue(store, [m.task_id for m in messages])
                    raise
                await store.mark_queued(
                    [m.task_id for m in messages], self.settings.republish_after
                )
                if len(messages) == SCHEDULE_BATCH:
                    continue
            try:
                async with asyncio.timeout(SCHEDULE_INTERVAL):
                    await self._schedule_now.wait()
            except TimeoutError:
                pass
            self._schedule_now.clear()

    async def _hand_back(self, broker: Broker, store: Store, foreign: list[Delivery]) -> None:
        """Put messages of types another worker runs back on the broker for it.

        If that publish fails, the store is told the messages are gone (it hands the
        tasks to :meth:`Store.take_due` at once) and they are acknowledged: left
        unacknowledged, they would wait in this consumer for a redelivery that a
        Kafka consumer never makes while it keeps its partitions.
        """
        try:
            await broker.publish([d.message for d in foreign])
        except Exception as exc:
            await store.mark_unqueued([d.message.task_id for d in foreign])
            log.warning(
                "handing back other types' messages failed; the store publishes them again",
                count=len(foreign),
                error=str(exc),
            )
        await broker.ack(foreign)

    async def _unqueue(self, store: Store, task_ids: list[str]) -> None:
        """Tell the store these tasks' messages were not published (best effort: if
        the store cannot take it either, they are due again after publish_grace)."""
        try:
            await store.mark_unqueued(task_ids)
        except Exception as exc:
            log.warning(
                "could not hand unpublished tasks back to the store; they are due again "
                "after publish_grace",
                count=len(task_ids),
                error=str(exc),
                publish_grace=self.settings.publish_grace,
            )

    async def _maintenance_loop(self) -> None:
        _, store = self.app.backends()
        while not self._stopping.is_set():
            events = await store.maintain(self.settings.max_redeliveries)
            if events:
                await self.app.events.emit(events)
            await asyncio.sleep(self.settings.maintenance_interval)

    async def _tick_loop(self) -> None:
        """Fire the periodic schedules that are due (every worker does: no beat process)."""
        await ticker.run(self.app, self._stopping)

    async def _announce_loop(self) -> None:
        _, store = self.app.backends()
        while not self._stopping.is_set():
            await asyncio.sleep(ANNOUNCE_INTERVAL)
            await self._announce(store)

    async def _presence_loop(self) -> None:
        """Tell the store this worker is alive and what it runs (:mod:`.presence`)."""
        _, store = self.app.backends()

        def info() -> WorkerInfo:
            running = tuple(self._runs)
            return presence.describe(self.worker_id, self.task_types, self.concurrency, running)

        await presence.report(store, info, self.settings.lease_ttl, self._stopping)

    async def _announce(self, store: Store) -> None:
        """Tell the store which types this worker runs, with its handlers' defaults."""
        await store.announce(
            self.worker_id,
            self.task_types,
            {t: self.app.handlers[t].defaults() for t in self.task_types},
        )

    # -- runs -------------------------------------------------------------------------

    def _start_run(self, task: Task, delivery: Delivery) -> None:
        loop = asyncio.get_running_loop()

        def report(value: float, _id: str = task.id) -> None:
            if threading.get_ident() == self._loop_thread:
                self._queue_progress(_id, value)
            else:  # a sync handler's thread: this is queued ahead of its result
                loop.call_soon_threadsafe(self._queue_progress, _id, value)

        ctx = TaskContext(task.id, task.type, task.retry + 1, self.worker_id, task.payload, report)
        run = _Run(task, delivery, ctx)
        self._runs[task.id] = run
        self._executing += 1
        assert self._keeper is not None
        self._keeper.add(task.id)
        run.job = asyncio.create_task(self._execute(run), name=f"xqueue-task:{task.id}")

    def _interrupt(self, run: _Run, reason: str) -> None:
        if run.stop_reason is None:
            run.stop_reason = reason
        mark_cancelled(run.ctx)
        if run.job is not None and not run.job.done():
            run.job.cancel()

    def _on_heartbeat(self, beat: Heartbeat) -> None:
        for task_id in beat.cancel_requested:
            run = self._runs.get(task_id)
            if run is not None:
                log.info("cancelling running task", task_id=task_id, task_type=run.task.type)
                self._interrupt(run, "canceled")
        for task_id in beat.lost:
            run = self._runs.get(task_id)
            if run is not None and run.stop_reason is None:
                log.warning("lease lost; abandoning run", task_id=task_id, task_type=run.task.type)
                self._interrupt(run, "lost")

    async def _call(self, spec: HandlerSpec, run: _Run) -> Any:
        task, ctx = run.task, run.ctx
        args: tuple[Any, ...] = (task.payload, ctx) if spec.takes_context else (task.payload,)
        if spec.executor == "async":
            return await spec.func(*args)
        if spec.executor == "thread":
            return await run_in_thread(spec.func, args, ctx)
        if self._process_pool is None:
            self._process_pool = ProcessExecutor(self.settings.process_executor_workers)
        return await self._process_pool.run(
            spec.func, task.payload, ctx, spec.takes_context, ctx.progress
        )

    async def _execute(self, run: _Run) -> None:
        task = run.task

        def bound() -> Any:  # built only when there is something to log
            return log.bind(task_id=task.id, task_type=task.type, attempt=run.ctx.attempt)

        spec = self.app.handlers[task.type]
        hooks = self.app.plugins.hooks
        kind: FinishKind
        error: str | None = None
        result: Any = None
        can_retry = task.retry < task.max_retry
        deadline = asyncio.timeout(task.process_timeout) if task.process_timeout else None
        try:
            if task.depends_on:
                run.ctx.parents = await parent_results(self.app.backends().store, task)
            if self._hooked_before:
                hooks.before_execute(task, run.ctx)
            if deadline is None:
                result = await self._call(spec, run)
            else:
                async with deadline:
                    result = await self._call(spec, run)
            kind = FinishKind.SUCCESS
            try:
                orjson.dumps(result)
            except TypeError as exc:
                kind = FinishKind.FAILED
                error, result = f"result is not JSON-serializable: {exc}", None
        except (asyncio.CancelledError, TaskCancelled) as exc:
            reason = run.stop_reason
            if reason is None:
                if isinstance(exc, asyncio.CancelledError):
                    self._release(run, forget=True)  # cancelled from outside: nothing to record
                    raise
                reason = "canceled"  # the handler raised TaskCancelled itself
            if reason == "canceled":
                kind, error = FinishKind.CANCELED, "canceled while running"
            elif reason == "shutdown":
                kind = FinishKind.RELEASE
            else:  # lease lost: the task is not ours to finish any more
                self._release(run, forget=True)
                bound().warning("run abandoned after losing its lease")
                return
        except Exception as exc:
            if isinstance(exc, TimeoutError) and deadline is not None and deadline.expired():
                error = f"process timeout after {task.process_timeout:g}s"
                kind = FinishKind.RETRY if can_retry else FinishKind.TIMEOUT
            else:
                if isinstance(exc, ChildProcessError_):
                    error = str(exc)
                else:
                    error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                kind = FinishKind.RETRY if can_retry else FinishKind.FAILED
        if kind in (FinishKind.RETRY, FinishKind.RELEASE) and await self._cancel_requested(task.id):
            # asked to stop while it ran (the request may not have reached us yet): never again
            kind, error = FinishKind.CANCELED, "canceled while running"
        delay = 0.0
        if kind == FinishKind.RETRY:
            base = spec.retry_backoff or self.settings.retry_backoff
            delay = retry_delay(
                task.retry + 1, base, self.settings.retry_backoff_max, self.settings.retry_jitter
            )
        if self._hooked_after:
            try:
                hooks.after_execute(task, run.ctx, kind, error)
            except Exception:
                bound().exception("xqueue_after_execute hook failed")
        if progress_reported(run.ctx):
            await self._settle_progress(task.id)
        self._release(run, forget=False)
        finish = Finish(task.id, self.worker_id, kind, error, result, delay)
        assert self._finisher is not None
        try:
            applied = await self._finisher.submit((finish, run.delivery))
        except Exception as exc:
            # the store stayed unreachable past its retries: the lease (no longer renewed)
            # runs out and the task runs again, as after a lost worker (at-least-once)
            bound().warning(
                "outcome not recorded: the store is unreachable; the task runs again "
                "after its lease",
                outcome=str(kind),
                error=str(exc) or type(exc).__name__,
            )
            return
        finally:
            self._runs.pop(task.id, None)
            self._slot_free.set()
        self.completed += 1
        if not applied:
            bound().warning("outcome not recorded: the task changed hands", outcome=str(kind))
        elif kind in (FinishKind.SUCCESS, FinishKind.RELEASE):
            log.debug("task finished", task_id=task.id, task_type=task.type, outcome=str(kind))
        elif kind == FinishKind.RETRY:
            bound().info("task will retry", error=error, delay=round(delay, 3))
        else:
            bound().info("task finished", outcome=str(kind), error=error)

    async def _cancel_requested(self, task_id: str) -> bool:
        """Ask the store now whether a cancel of this run is pending."""
        _, store = self.app.backends()
        try:
            beat = await store.heartbeat(self.worker_id, [task_id], self.settings.lease_ttl)
        except Exception as exc:
            log.warning("cancel check failed", task_id=task_id, error=str(exc))
            return False
        return task_id in beat.cancel_requested

    def _release(self, run: _Run, forget: bool) -> None:
        """Its handler is done (or given up): stop renewing the lease and free the slot.
        With ``forget`` the run is dropped too: no outcome will be recorded for it."""
        task_id = run.task.id
        if self._keeper is not None:
            self._keeper.discard(task_id)
        self._progress_pending.pop(task_id, None)
        if run.executing:
            run.executing = False
            self._executing -= 1
        if forget:
            self._runs.pop(task_id, None)
        self._slot_free.set()

    async def _flush_finishes(self, items: Sequence[tuple[Finish, Delivery]]) -> list[bool]:
        _, store = self.app.backends()
        applied, events = await store.finish([f for f, _ in items])
        if any(d.message.type in self._limited for _, d in items):
            # a token of a saturated type came free and woke a parked task: publish it now
            self._schedule_now.set()
        await self.app.events.emit(events)
        self._ack_later([d for _, d in items])
        return applied

    def _ack_later(self, deliveries: list[Delivery]) -> None:
        """Acknowledge off the hot path: the outcome (or the claim's verdict) is already
        recorded, and a lost ack only means a redelivery that the claim turns into a no-op."""
        broker, _ = self.app.backends()
        job = asyncio.create_task(broker.ack(deliveries))
        self._acks.add(job)
        job.add_done_callback(self._ack_done)

    def _ack_done(self, job: asyncio.Task[None]) -> None:
        self._acks.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.warning("acknowledging messages failed", error=str(job.exception()))

    # -- progress -------------------------------------------------------------------

    def _queue_progress(self, task_id: str, value: float) -> None:
        if task_id not in self._runs:
            return
        busy = task_id in self._progress_pending
        self._progress_pending[task_id] = value
        if not busy:
            job = asyncio.create_task(self._write_progress(task_id))
            self._progress_jobs[task_id] = job
            job.add_done_callback(lambda _: self._progress_jobs.pop(task_id, None))

    async def _settle_progress(self, task_id: str) -> None:
        """Store the last progress a run reported before its outcome is recorded, so a
        report made just before the handler returned is not lost or reordered."""
        job = self._progress_jobs.get(task_id)
        if job is not None:
            await asyncio.wait([job])

    async def _write_progress(self, task_id: str) -> None:
        _, store = self.app.backends()
        written: float | None = None
        while True:
            value = self._progress_pending.get(task_id)
            if value is None or value == written:
                self._progress_pending.pop(task_id, None)
                return
            written = value
            try:
                event: TaskEvent | None = await store.report_progress(
                    task_id, self.worker_id, value
                )
            except Exception as exc:
                log.warning("progress not stored", task_id=task_id, error=str(exc))
                event = None
            if event is not None:
                await self.app.events.emit([event])

    async def _drain_progress(self) -> None:
        if self._progress_jobs:
            await asyncio.gather(*self._progress_jobs.values(), return_exceptions=True)
