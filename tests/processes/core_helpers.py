"""Fixtures for the core's real-process tests: a private SQLite file, worker
processes started with the ``xqueue`` command, and the CLI run as a subprocess."""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.kafka.kafka_services import make_url, tansu
from tests.processes.apps.xqt_app import make_app, read_records
from xqueue_core import Settings, XQueue
from xqueue_core.testing import reaper
from xqueue_core.testing.services import ServiceProcess, redis_command, wait_until

APPS = Path(__file__).parent / "apps"  # on the workers' PYTHONPATH: they import ``xqt_app``
ROOT = Path(__file__).resolve().parents[2]
XQUEUE = str(Path(sys.executable).parent / "xqueue")


def descendants(pid: int) -> list[int]:
    """Child processes of ``pid``, recursively (Linux /proc)."""
    try:
        kids = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [p for kid in kids for p in (kid, *descendants(kid))]


class WorkerProcess:
    """``xqueue worker`` in its own process group; its output goes to a log file."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid = self.proc.pid
        reaper.watch(self.pid)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_started(self, count: int = 1, timeout: float = 20.0) -> WorkerProcess:
        def started() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.text()}")
            return self.text().count("worker started") >= count

        wait_until(started, timeout, "worker to start")
        return self

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        reaper.forget(self.pid)
        return code

    def kill_group(self) -> None:
        """SIGKILL the process, its group and its descendants (worker processes of a
        supervisor run in process groups of their own)."""
        if self.proc.poll() is None:
            for pid in [*descendants(self.pid), self.pid]:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self.proc.wait(10)
        reaper.forget(self.pid)


class Env:
    """One test's world: a fresh SQLite file, a record file, env vars for child processes."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        self.db = tmp / "q.db"
        self.url = f"sqlite:///{self.db}"
        self.record_file = tmp / "record.jsonl"
        self.vars: dict[str, str] = {
            **{k: v for k, v in os.environ.items() if not k.startswith("XQUEUE_")},
            "XQUEUE_STORE": self.url,
            "XQUEUE_BROKER": self.url,
            "XQUEUE_LOAD_PLUGINS": "",
            "XQUEUE_LEASE_TTL": "2",
            "XQUEUE_LOG_LEVEL": "info",
            "XQT_RECORD": str(self.record_file),
            "PYTHONPATH": os.pathsep.join([str(APPS), str(ROOT)]),
        }
        self.workers: list[WorkerProcess] = []

    def env(self, **extra: str) -> dict[str, str]:
        return {**self.vars, **extra}

    def cli(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``xqueue ARGS`` (in the test's directory unless ``cwd`` is given)."""
        return subprocess.run(
            [XQUEUE, *args],
            env=env if env is not None else self.vars,
            cwd=cwd or self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def worker(
        self, *args: str, env: dict[str, str] | None = None, app: str = "xqt_app:app"
    ) -> WorkerProcess:
        """Start ``xqueue worker APP ARGS`` (not waiting for it to be ready)."""
        log = self.dir / f"worker-{len(self.workers)}.log"
        argv = [XQUEUE, "worker", *([app] if app else []), *args]
        proc = WorkerProcess(argv, env if env is not None else self.vars, self.dir, log)
        self.workers.append(proc)
        return proc

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        rows = read_records(self.record_file)
        return [r for r in rows if kind is None or r["kind"] == kind]

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read the database directly, bypassing xqueue (and its read-time repairs)."""
        conn = sqlite3.connect(self.db, timeout=30)
        try:
            return conn.execute(query, args).fetchall()
        finally:
            conn.close()

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table's rows, for before/after comparisons."""
        if not self.db.exists():
            return {}
        tables = [r[0] for r in self.sql("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: self.sql(f"SELECT * FROM {t} ORDER BY rowid") for t in sorted(tables)}

    def terminal_events(self, task_id: str) -> list[str]:
        """Terminal status events the store logged for a task (exactly one is expected)."""
        rows = self.sql("SELECT data FROM events ORDER BY seq")
        out = []
        for (data,) in rows:
            event = orjson.loads(data)
            if (
                event["task_id"] == task_id
                and event["kind"] == "status"
                and event["status"] in ("success", "failed", "timeout", "canceled")
            ):
                out.append(event["status"])
        return out

    def close(self) -> None:
        for worker in self.workers:
            worker.kill_group()


def running_counts(records: list[dict[str, Any]], task_type: str) -> list[tuple[float, int]]:
    """For each ``start`` of ``task_type``: its time and the number of handlers of
    that type running at that moment, itself included."""
    running = 0
    out = []
    for r in records:
        if r.get("type") != task_type:
            continue
        if r["kind"] == "start":
            running += 1
            out.append((r["t"], running))
        elif r["kind"] == "end":
            running -= 1
    return out


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie counts as gone
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def xenv(tmp_path: Path) -> Iterator[Env]:
    env = Env(tmp_path)
    try:
        yield env
    finally:
        env.close()


@pytest.fixture
async def client(xenv: Env) -> AsyncIterator[XQueue]:
    """An app in the test process on the test's database, with every test handler
    registered (so it can submit before any worker announced its types)."""
    settings = Settings(store=xenv.url, broker=xenv.url, lease_ttl=2.0)
    app = make_app("xqt-client", settings=settings, autoload_plugins=False)
    async with app:
        yield app


async def statuses(app: XQueue, tasks: list[Any]) -> list[str]:
    """The current status of each task (tasks or ids), read through the app."""
    out = []
    for task in tasks:
        out.append(str((await app.get(getattr(task, "id", task))).status))
    return out


@pytest.fixture(scope="module")
def redis_server() -> Iterator[ServiceProcess]:
    with ServiceProcess("redis-keys", redis_command()) as server:
        yield server


@pytest.fixture(params=["sqlite", "redis"])
async def keyed(request: pytest.FixtureRequest, xenv: Env, client: XQueue) -> AsyncIterator[XQueue]:
    """The test's client on the embedded store, or on Redis (store and Streams broker)
    with the workers there too."""
    if request.param == "sqlite":
        yield client
        return
    import xqueue_redis.plugin

    server: ServiceProcess = request.getfixturevalue("redis_server")
    url = f"redis://127.0.0.1:{server.port}/0?prefix=k{secrets.token_hex(4)}"
    xenv.vars.update(XQUEUE_STORE=url, XQUEUE_BROKER=url, XQUEUE_LOAD_PLUGINS="redis")
    settings = Settings(store=url, broker=url, lease_ttl=2.0)
    app = make_app("xqt-redis", settings=settings, plugins=[xqueue_redis.plugin])
    async with app:
        yield app


@pytest.fixture(scope="module")
def kafka_servers() -> Iterator[str]:
    """A private Tansu broker for the tests that run on every broker."""
    with tansu() as service:
        yield f"127.0.0.1:{service.port}"


@pytest.fixture(params=["sqlite", "redis", "kafka+redis"])
async def on_every_broker(
    request: pytest.FixtureRequest, xenv: Env, client: XQueue
) -> AsyncIterator[XQueue]:
    """The test's client and workers on the embedded store, on Redis (store and
    Streams broker), or on a Kafka broker (Tansu) with the Redis store."""
    if request.param == "sqlite":
        yield client
        return
    import xqueue_redis.plugin

    server: ServiceProcess = request.getfixturevalue("redis_server")
    store = f"redis://127.0.0.1:{server.port}/0?prefix=k{secrets.token_hex(4)}"
    broker, plugins, names = store, [xqueue_redis.plugin], "redis"
    if request.param == "kafka+redis":
        import xqueue_kafka.plugin

        broker = make_url(request.getfixturevalue("kafka_servers"))
        plugins, names = [xqueue_redis.plugin, xqueue_kafka.plugin], "redis,kafka"
    xenv.vars.update(XQUEUE_STORE=store, XQUEUE_BROKER=broker, XQUEUE_LOAD_PLUGINS=names)
    app = make_app(
        "xqt-brokers", settings=Settings(store=store, broker=broker, lease_ttl=2.0), plugins=plugins
    )
    async with app:
        yield app
