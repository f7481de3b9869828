"""The soak: submit a mixed workload while killing workers, restarting Redis, Tansu and
mosquitto and changing limits; then wait until everything settled and check the
invariants (``checks.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from xqueue_core import XQueue
from xqueue_core.errors import TaskAlreadyFinished, XQueueError
from xqueue_core.testing.processes import xqueue_env

from . import checks
from .app import LIMITS, make_app, record
from .diagnosis import redis_state_of
from .mqtt import MQTT_PREFIX, notifier_counts, read_retained
from .services import kill_and_wait_closed, mosquitto_service
from .workers import WorkerPool

ROOT = Path(__file__).resolve().parents[1]  # on the workers' PYTHONPATH: soak.app:app
RESULTS = Path(__file__).resolve().parent / "results"
GET_BATCH = 8  # reads in flight at once (within any store's connection pool)
ERRORS = (XQueueError, OSError, ConnectionError, TimeoutError)


@dataclass
class Config:
    seconds: float = 600.0
    backend: str = "sqlite"  # sqlite | redis | kafka
    rate: float = 25.0  # submits per second
    workers: int = 3
    concurrency: int = 8
    lease: float = 5.0
    kill_every: tuple[float, float] = (4.0, 10.0)
    redis_every: tuple[float, float] = (30.0, 60.0)
    kafka_every: tuple[float, float] = (30.0, 60.0)
    republish_after: float = 5.0  # Tansu's memory storage loses messages: XQUEUE_REPUBLISH_AFTER
    redis_options: str = ""  # URL query options for the Redis store and broker, e.g. lane=true
    mqtt: bool = False
    mqtt_every: tuple[float, float] = (20.0, 40.0)
    mqtt_down: tuple[float, float] = (1.0, 4.0)
    limit_every: tuple[float, float] = (3.0, 10.0)
    seed: int = 0
    results: str = str(RESULTS)


class Soak:
    def __init__(self, cfg: Config, workdir: Path) -> None:
        self.cfg = cfg
        self.workdir = workdir
        self.rng = random.Random(cfg.seed or None)
        self.record_file = workdir / "record.jsonl"
        self.accepted: dict[str, dict[str, Any]] = {}
        self.terminal_events: dict[str, list[str]] = defaultdict(list)
        self.events_seen = 0
        self.counters: dict[str, int] = defaultdict(int)
        self.exit_codes: dict[str, int] = defaultdict(int)  # of workers that exited unkilled
        self.memory: list[tuple[float, int]] = []
        self.peak_rss = 0
        self.app: XQueue | None = None
        self.redis: Any = None
        self.kafka: Any = None
        self.mosquitto: Any = None
        self.retained: dict[str, dict[str, Any]] = {}
        self.notifier_stats: dict[str, Any] = {}
        self.limit = 3
        self.redis_outage_max = 0.0
        self.t0 = time.monotonic()
        self._jobs: set[asyncio.Future[None]] = set()

    # -- set-up ----------------------------------------------------------------------

    def urls(self) -> tuple[str, str, str]:
        """(broker, store, plugins to load) for the backend."""
        if self.cfg.backend == "sqlite":
            url = f"sqlite:///{self.workdir / 'soak.db'}"
            return url, url, ""
        from xqueue_core.testing.services import ServiceProcess, redis_command, tansu_command

        # fsync per write: with everysec, a kill -9 loses up to a second of acknowledged
        # writes (a claim, a result), and the re-run that follows is Redis's doing.
        self.redis = ServiceProcess("redis", redis_command(durable=True)).start()
        store = f"redis://127.0.0.1:{self.redis.port}/0"
        if self.cfg.redis_options:
            store += f"?{self.cfg.redis_options}"
        if self.cfg.backend == "kafka":
            self.kafka = ServiceProcess("tansu", tansu_command()).start()
            broker = (
                f"kafka://127.0.0.1:{self.kafka.port}?partitions=3&session_timeout_ms=1500"
                "&heartbeat_interval_ms=150&revoke_wait_ms=1000&commit_interval_ms=20"
            )
            return broker, store, "redis,kafka"
        from xqueue_core.plugins import Plugins

        try:
            Plugins(env={"XQUEUE_LOAD_PLUGINS": "redis"}).backend_spec("broker", store)
        except XQueueError:
            sqlite = f"sqlite:///{self.workdir / 'soak-broker.db'}"
            self.counters["note: no Redis broker installed, sqlite broker used"] = 1
            return sqlite, store, "redis"
        return store, store, "redis"

    def describe(self, broker: str, store: str) -> str:
        names = {
            "sqlite": "sqlite (embedded)",
            "redis": "Redis (AOF always)",
            "kafka": "Kafka (Tansu, memory storage)",
        }
        b, s = broker.split(":")[0], store.split(":")[0]
        text = f"broker {names.get(b, b)}, store {names.get(s, s)}"
        if self.cfg.redis_options:
            text += f", Redis URL options {self.cfg.redis_options}"
        return text + (", notifier MQTT (mosquitto)" if self.cfg.mqtt else "")

    # -- workload ----------------------------------------------------------------------

    def make_task(self) -> dict[str, Any]:
        r = self.rng
        kind = r.choices(
            ["quick", "limited", "flaky", "slow", "long", "blocking"],
            weights=[45, 15, 15, 10, 5, 10],
        )[0]
        item: dict[str, Any] = {"type": kind, "priority": r.randint(0, 9)}
        if kind == "quick":
            item["payload"] = {"seconds": r.uniform(0, 0.02)}
            if r.random() < 0.2:
                item["queue_timeout"] = 1.0
        elif kind == "limited":
            item["payload"] = {"seconds": r.uniform(0.05, 0.2)}
            if r.random() < 0.3:
                item["queue_timeout"] = 3.0
        elif kind == "flaky":
            item["payload"] = {"fail_attempts": r.choice([0, 1, 2, 3])}
        elif kind == "slow":
            item["payload"] = {"seconds": r.choice([0.1, 2.0])}
        elif kind == "long":
            item["payload"] = {"seconds": 3.0}
        else:
            item["payload"] = {"seconds": r.uniform(0.02, 0.1)}
        item["idempotency_key"] = uuid.uuid4().hex
        return item

    async def submit(self, item: dict[str, Any]) -> str | None:
        """Submit until accepted; the idempotency key makes a retried submit count once."""
        assert self.app is not None
        give_up = time.monotonic() + 60
        while True:
            try:
                task = (await self.app.submit_many([item]))[0]
                return task.id
            except ERRORS:
                self.counters["submit errors (retried)"] += 1
                if time.monotonic() > give_up:
                    self.counters["submits refused after 60 s"] += 1
                    return None
                await asyncio.sleep(0.2)

    async def submitter(self, until: float) -> None:
        interval = 1.0 / self.cfg.rate
        next_at = time.monotonic()
        while time.monotonic() < until:
            item = self.make_task()
            task_id = await self.submit(item)
            if task_id is not None:
                self.accepted[task_id] = {"id": task_id, "type": item["type"]}
                if item["type"] == "long":
                    self.later(self.rng.uniform(0.3, 1.5), self.cancel(task_id))
                elif item["type"] in ("quick", "limited") and self.rng.random() < 0.05:
                    self.later(self.rng.uniform(0, 0.5), self.cancel(task_id))
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    def later(self, delay: float, coro: Any) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            await coro

        job = asyncio.ensure_future(run())
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def cancel(self, task_id: str) -> None:
        assert self.app is not None
        try:
            task = await self.app.cancel(task_id)
        except TaskAlreadyFinished:
            self.counters["cancels of finished tasks"] += 1
            return
        except ERRORS:
            self.counters["cancel errors"] += 1
            return
        status = str(task.status)
        self.counters[f"cancels ({'pending' if status == 'canceled' else 'running'})"] += 1
        if status == "canceled":
            self.accepted[task_id].update(cancel="pending", cancel_t=time.time())

    # -- faults --------------------------------------------------------------------------

    async def killer(self, pool: WorkerPool, until: float) -> None:
        while time.monotonic() < until:
            await asyncio.sleep(self.rng.uniform(*self.cfg.kill_every))
            slots = [s for s in range(1, pool.count) if pool.alive(s)]
            if not slots:
                continue
            slot = self.rng.choice(slots)
            await asyncio.to_thread(pool.kill, slot)
            self.counters["workers SIGKILLed"] += 1
            self.later(self.rng.uniform(0.5, 3.0), self.restart(pool, slot))

    async def restart(self, pool: WorkerPool, slot: int) -> None:
        if not pool.alive(slot):
            pool.start(slot)

    async def redis_restarter(self, until: float) -> None:
        if self.redis is None:
            return
        while True:
            await asyncio.sleep(self.rng.uniform(*self.cfg.redis_every))
            if time.monotonic() >= until:
                return
            down = time.monotonic()
            await asyncio.to_thread(self.redis.restart)  # kill -9, then start on the same port
            record("redis_restart")
            self.counters["Redis restarts (kill -9, AOF)"] += 1
            # Until it answers again (it reads its AOF first): longer than the lease, and
            # runs lose their lease by design (docs/operations.md)
            await self.redis_answers()
            outage = time.monotonic() - down
            self.redis_outage_max = max(self.redis_outage_max, outage)

    async def redis_answers(self) -> None:
        """Wait until the restarted Redis answers PING (not LOADING) — at most 60 s."""
        import redis.asyncio as aioredis

        client = aioredis.Redis(port=self.redis.port, socket_timeout=1)
        try:
            give_up = time.monotonic() + 60
            while time.monotonic() < give_up:
                try:
                    await client.ping()
                    return
                except Exception:  # refused, LOADING: not yet
                    await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    async def kafka_restarter(self, until: float) -> None:
        """kill -9 Tansu and start it again on the same port, at a random moment.

        Tansu keeps messages, offsets and groups in memory only (its durable
        storage is S3, on which its consumer groups stall here), so it comes back
        empty: every message not yet started is lost. The submitter and workers run
        with ``republish_after`` for that: the store hands out a published task
        that no worker started within it, to be published again.
        """
        if self.kafka is None:
            return
        while True:
            await asyncio.sleep(self.rng.uniform(*self.cfg.kafka_every))
            if time.monotonic() >= until:
                return
            await asyncio.to_thread(self.kafka.restart)
            record("kafka_restart")
            self.counters["Tansu restarts (kill -9, memory storage: comes back empty)"] += 1

    async def mqtt_restarter(self, until: float) -> None:
        """kill -9 mosquitto, keep it down a while, start it again on the same port."""
        if self.mosquitto is None:
            return
        while True:
            await asyncio.sleep(self.rng.uniform(*self.cfg.mqtt_every))
            # None in the last MIN seconds: what mosquitto retains at the end is checked
            # for the tasks that finished after its last kill.
            if time.monotonic() + self.cfg.mqtt_every[0] >= until:
                return
            await asyncio.to_thread(kill_and_wait_closed, self.mosquitto)
            # Recorded once it is dead: an event emitted later cannot have reached it.
            record("mqtt_down")
            await asyncio.sleep(self.rng.uniform(*self.cfg.mqtt_down))
            await asyncio.to_thread(self.mosquitto.start)
            record("mqtt_up")
            self.counters["mosquitto restarts (kill -9, down a while)"] += 1

    async def limit_changer(self, until: float) -> None:
        assert self.app is not None
        while time.monotonic() < until:
            await asyncio.sleep(self.rng.uniform(*self.cfg.limit_every))
            new = self.rng.randint(1, 5)
            record("limit", type="limited", phase="begin", old=self.limit, new=new)
            while True:
                try:
                    await self.app.set_concurrency("limited", new)
                    break
                except ERRORS:
                    await asyncio.sleep(0.2)
            record("limit", type="limited", phase="end", old=self.limit, new=new)
            self.limit = new

    async def follower(self) -> None:
        """Follows the store's event log from its start; keeps terminal statuses per task."""
        assert self.app is not None and self.app.store is not None
        cursor = "0"
        while True:
            try:
                batch = await self.app.store.read_events(cursor, 1000, 1.0)
            except ERRORS:
                await asyncio.sleep(0.2)
                continue
            if batch:
                cursor = batch[-1][0]
            for _, event in batch:
                self.events_seen += 1
                if event.kind == "status" and event.status.terminal:
                    self.terminal_events[event.task_id].append(str(event.status))

    def restart_exited(self, pool: WorkerPool) -> None:
        """Count the workers that exited without being killed (a crash, or a start while
        a server was down) and start them again."""
        for slot, tag, code in pool.reap():
            self.counters["workers that exited on their own"] += 1
            self.exit_codes[str(code)] += 1
            print(f"  worker {tag} exited on its own (exit code {code}); starting it again")
            pool.start(slot)

    async def sampler(self, pool: WorkerPool) -> None:
        while True:
            self.restart_exited(pool)
            rss = pool.rss(0)
            if rss:
                self.memory.append((time.monotonic() - self.t0, rss))
            self.peak_rss = max(self.peak_rss, *(pool.rss(s) for s in range(pool.count)))
            await asyncio.sleep(2.0)

    # -- the run ---------------------------------------------------------------------------

    async def settle(self, pool: WorkerPool, timeout: float) -> dict[str, Any]:
        """Restart dead workers, wait until every accepted task is terminal, read them all."""
        assert self.app is not None
        self.restart_exited(pool)
        for slot in range(pool.count):
            if not pool.alive(slot):
                pool.start(slot)
        give_up = time.monotonic() + timeout
        waiting = [t for t in self.accepted if not self.terminal_events.get(t)]
        while waiting and time.monotonic() < give_up:
            tasks = await self.get_all(waiting)
            waiting = [t for t in waiting if tasks[t] is None or not tasks[t].terminal]
            if waiting:
                await asyncio.sleep(1.0)
        return await self.get_all(list(self.accepted))

    async def get_all(self, ids: list[str]) -> dict[str, Any]:
        assert self.app is not None and self.app.store is not None
        store = self.app.store
        out: dict[str, Any] = {}
        for start in range(0, len(ids), GET_BATCH):
            chunk = ids[start : start + GET_BATCH]
            for attempt in range(300):
                try:
                    found = await asyncio.gather(*(store.get(t) for t in chunk))
                    break
                except ERRORS:
                    if attempt == 299:
                        raise
                    await asyncio.sleep(0.2)
            out.update(zip(chunk, found, strict=True))
        return out

    def in_worker_logs(self, text: str) -> int:
        """How often ``text`` occurs in all worker logs of the run."""
        return sum(
            log.read_text(errors="replace").count(text) for log in self.workdir.glob("worker-*.log")
        )

    async def run(self) -> tuple[checks.Report, dict[str, Any]]:
        cfg = self.cfg
        broker, store, plugins = self.urls()
        notify: list[str] = []
        if cfg.mqtt:
            self.mosquitto = mosquitto_service().start()
            notify = [f"mqtt://127.0.0.1:{self.mosquitto.port}?prefix={MQTT_PREFIX}"]
            plugins = f"{plugins},mqtt" if plugins else "mqtt"
            os.environ["SOAK_EVENTS"] = "1"
        os.environ["XQUEUE_LOAD_PLUGINS"] = plugins
        os.environ["SOAK_RECORD"] = str(self.record_file)
        republish = {}
        if self.kafka is not None:
            republish = {"republish_after": str(cfg.republish_after)}
        env = xqueue_env(
            [ROOT],
            broker=broker,
            store=store,
            load_plugins=plugins,
            lease_ttl=str(cfg.lease),
            log_level="info",
            grace_period="5",
            **republish,
            **({"notify": notify[0]} if notify else {}),
        )
        self.app = make_app(
            "driver",
            broker=broker,
            store=store,
            lease_ttl=cfg.lease,
            notify=notify,
            republish_after=cfg.republish_after if self.kafka is not None else 0.0,
        )
        pool = WorkerPool(cfg.workers, cfg.concurrency, env, self.workdir)
        await self.app.open()
        background: list[asyncio.Task[None]] = []
        try:
            for task_type, limit in {**LIMITS, "limited": self.limit}.items():
                await self.app.set_concurrency(task_type, limit)
            for slot in range(pool.count):
                pool.start(slot)
            for slot in range(pool.count):
                await asyncio.to_thread(pool.wait_started, slot)
            self.t0 = time.monotonic()
            until = self.t0 + cfg.seconds
            background = [asyncio.create_task(c) for c in (self.follower(), self.sampler(pool))]
            await asyncio.gather(
                self.submitter(until),
                self.killer(pool, until),
                self.redis_restarter(until),
                self.kafka_restarter(until),
                self.mqtt_restarter(until),
                self.limit_changer(until),
            )
            if self._jobs:
                await asyncio.gather(*self._jobs, return_exceptions=True)
            settle_timeout = max(120.0, 10 * cfg.lease + 60)
            finals = await self.settle(pool, settle_timeout)
            unfinished = [t for t, task in finals.items() if task is not None and not task.terminal]
            if unfinished and self.redis is not None:
                state = await redis_state_of(self.redis.port, unfinished[:20], self.accepted)
                (self.workdir / "unfinished.json").write_text(json.dumps(state, indent=1))
                print(
                    f"soak: {len(unfinished)} tasks did not finish; where Redis holds them: "
                    f"{self.workdir / 'unfinished.json'}",
                    file=sys.stderr,
                )
            await asyncio.sleep(2 * self.cfg.lease)  # let the follower catch up, leases lapse
            running = await self.app.store.running() if self.app.store else {}
            if self.mosquitto is not None:
                # Workers and the driver flush their notifiers as they close; then a
                # fresh subscriber reads what the broker retained.
                await asyncio.to_thread(pool.stop_all)
                notifier: Any = self.app.notifiers[0]  # an MqttNotifier: it has stats()
                self.notifier_stats = notifier.stats()
                await self.app.close()
                self.retained = await read_retained(self.mosquitto.port)
                (self.workdir / "retained.json").write_bytes(orjson.dumps(self.retained))
        finally:
            for job in background:
                job.cancel()
            await asyncio.to_thread(pool.stop_all)
            await self.app.close()
            for service in (self.redis, self.kafka, self.mosquitto):
                if service is not None:
                    service.stop()
        records = (
            [orjson.loads(line) for line in self.record_file.read_bytes().splitlines() if line]
            if self.record_file.exists()
            else []
        )
        report = checks.evaluate(
            self.accepted,
            records,
            dict(self.terminal_events),
            finals,
            running,
            {**LIMITS, "limited": 3},
        )
        self.add_memory(report)
        if self.mosquitto is not None:
            checks.mqtt(report, records, finals, self.retained)
        facts = {
            "backend": self.describe(broker, store),
            "seconds": cfg.seconds,
            "events_followed": self.events_seen,
            "worker_starts": pool.started_total,
            "workers that exited on their own": 0,  # replaced by the counter when any did
            "peak_worker_rss_mb": round(self.peak_rss / 2**20, 1),
            "runs abandoned after losing their lease (worker logs)": self.in_worker_logs(
                "lease lost; abandoning run"
            ),
            **dict(self.counters),
        }
        if self.exit_codes:
            facts["exit codes of workers that exited on their own"] = dict(self.exit_codes)
        if self.redis is not None and self.redis_outage_max:
            facts["longest Redis outage (kill -9 until it answers PING), s"] = round(
                self.redis_outage_max, 2
            )
        if self.kafka is not None:
            rewinds = self.in_worker_logs("log is behind the group's position")
            facts["Kafka logs found behind the position, read again (worker logs)"] = rewinds
        if self.mosquitto is not None:
            facts.update(notifier_counts(self.notifier_stats, self.workdir))
        return report, facts

    def add_memory(self, report: checks.Report) -> None:
        trend = checks.memory_trend(self.memory)
        if trend is None or self.cfg.seconds < 60:
            report.add(
                "worker memory trend (worker never killed)",
                "n/a" if trend is None else f"{trend[0]:.1f} -> {trend[1]:.1f} MB",
                "no growth trend (judged on runs of 60 s or more)",
                None,
            )
            return
        first, last, slope = trend
        ok = last - first <= max(10.0, 0.2 * first)
        report.add(
            "worker memory trend (worker never killed)",
            f"{first:.1f} -> {last:.1f} MB, {slope:+.2f} MB/min",
            "last fifth within max(10 MB, 20%) of first fifth",
            ok,
        )


def render(report: checks.Report, facts: dict[str, Any]) -> str:
    lines = [
        f"xqueue soak — {facts['backend']}, {facts['seconds']:.0f} s, {os.cpu_count()} cores",
        f"  submitted (accepted): {report.facts['submitted']}  "
        f"by type: {report.facts['submitted_by_type']}",
        f"  terminal states: {report.facts['terminal_states']}",
        f"  handler runs: {report.facts['handler_runs']}, workers killed: "
        f"{report.facts['workers_killed']}, limit changes: {report.facts['limit_changes']}",
    ]
    lines += [f"  {k}: {v}" for k, v in facts.items() if k not in ("backend", "seconds")]
    lines.append("")
    width = max(len(i.name) for i in report.invariants) + 2
    lines.append(f"  {'invariant':<{width}} {'value':>24}  {'required':<40} result")
    for inv in report.invariants:
        verdict = "info" if inv.ok is None else ("PASS" if inv.ok else "FAIL")
        lines.append(f"  {inv.name:<{width}} {inv.value!s:>24}  {inv.required:<40} {verdict}")
        if inv.detail and inv.ok is False:
            lines.append(f"      {inv.detail}")
    lines.append("")
    lines.append("RESULT: " + ("all invariants hold" if report.ok else "INVARIANTS VIOLATED"))
    return "\n".join(lines)


def save(report: checks.Report, facts: dict[str, Any], text: str, results: str) -> Path:
    path = Path(results)
    path.mkdir(parents=True, exist_ok=True)
    out = path / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "ok": report.ok,
                "facts": {**report.facts, **facts},
                "invariants": [asdict(i) for i in report.invariants],
                "report": text,
            },
            indent=2,
            default=str,
        )
    )
    return out


def main(cfg: Config, workdir: Path) -> int:
    from xqueue_core.logs import configure_logging

    configure_logging("error")
    report, facts = asyncio.run(Soak(cfg, workdir).run())
    text = render(report, facts)
    print(text)
    path = save(report, facts, text, cfg.results)
    print(f"report written to {path}", file=sys.stderr)
    return 0 if report.ok else 1
