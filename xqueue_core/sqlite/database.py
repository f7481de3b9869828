"""One SQLite file shared by the embedded broker and store.

All statements run on one thread per file and process (sqlite3 objects are not
thread-safe); coroutines hand work to it. WAL mode and ``BEGIN IMMEDIATE``
make it safe for several worker processes on one host.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from ..errors import BackendError, SettingsError
from .debounce import SCHEMA as DEBOUNCE_SCHEMA
from .dependencies import SCHEMA as DEPENDENCY_SCHEMA
from .rates import SCHEMA as RATE_SCHEMA
from .schedules import SCHEMA as SCHEDULE_SCHEMA

T = TypeVar("T")

KEY_INDEXES = """
CREATE INDEX IF NOT EXISTS tasks_parked_keys ON tasks(type, flow_key, priority DESC, id)
    WHERE parked = 1;
CREATE INDEX IF NOT EXISTS tasks_running_keys ON tasks(type, flow_key, lease_until)
    WHERE status = 'processing' AND flow_key IS NOT NULL;
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    retry INTEGER NOT NULL DEFAULT 0,
    max_retry INTEGER NOT NULL DEFAULT 0,
    queue_timeout REAL NOT NULL DEFAULT 0,
    process_timeout REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    completed_at REAL,
    eta REAL,
    error TEXT,
    worker_id TEXT,
    result TEXT,
    progress REAL,
    idempotency_key TEXT UNIQUE,
    redeliveries INTEGER NOT NULL DEFAULT 0,
    deadline REAL,
    publish_at REAL,
    parked INTEGER NOT NULL DEFAULT 0,
    lease_until REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    expires_at REAL,
    flow_key TEXT,
    schedule TEXT,
    scheduled_for REAL,
    depends_on TEXT,
    on_parent_failure TEXT,
    workflow TEXT,
    replay_of TEXT,
    replayed_by TEXT
);
CREATE INDEX IF NOT EXISTS tasks_publish ON tasks(publish_at) WHERE publish_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_deadline ON tasks(deadline) WHERE deadline IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_running ON tasks(type, lease_until)
    WHERE status = 'processing';
CREATE INDEX IF NOT EXISTS tasks_expires ON tasks(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_status ON tasks(status, id);
CREATE INDEX IF NOT EXISTS tasks_type ON tasks(type, id);
CREATE INDEX IF NOT EXISTS tasks_workflow ON tasks(workflow, id) WHERE workflow IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_parked ON tasks(type, priority DESC, id) WHERE parked = 1;
CREATE TABLE IF NOT EXISTS limits (type TEXT PRIMARY KEY, max_concurrency INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS paused (type TEXT PRIMARY KEY, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY, data TEXT NOT NULL, started_at REAL NOT NULL, expires_at REAL NOT NULL
);
-- per-key limits: key '' is the default of every key of the type (a flow key is never '')
CREATE TABLE IF NOT EXISTS key_limits (
    type TEXT NOT NULL, key TEXT NOT NULL, max_concurrency INTEGER NOT NULL,
    PRIMARY KEY (type, key)
);
-- per-key weights: a key takes this many tasks per round-robin turn (1 unless set)
CREATE TABLE IF NOT EXISTS key_weights (
    type TEXT NOT NULL, key TEXT NOT NULL, weight INTEGER NOT NULL, PRIMARY KEY (type, key)
);
-- the key of each type woken last: wake-ups go round-robin from the next one
CREATE TABLE IF NOT EXISTS key_cursor (
    type TEXT PRIMARY KEY, key TEXT NOT NULL, taken INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS types (
    type TEXT PRIMARY KEY, last_seen REAL NOT NULL, worker_id TEXT, defaults TEXT
);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL,
    type TEXT NOT NULL,
    priority INTEGER NOT NULL,
    visible_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_priority ON messages(priority DESC, seq);
"""


def path_from_url(url: str) -> str:
    """``sqlite:///rel.db`` → ``rel.db``; ``sqlite:////abs.db`` → ``/abs.db``.

    ``:memory:`` is refused: processes share the queue through the file."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        raise SettingsError(f"{url!r} is not a sqlite:// URL")
    if parts.netloc not in ("", "localhost"):
        raise SettingsError(
            f"{url!r}: a sqlite URL names a local file, like sqlite:///xqueue.db "
            "(relative) or sqlite:////var/lib/xqueue.db (absolute)"
        )
    path = unquote(parts.path)
    if path.startswith("/"):
        path = path[1:]
    if not path or path == ":memory:":
        raise SettingsError(
            f"{url!r}: give a file name, like sqlite:///xqueue.db (several processes "
            "share the queue through the file, so an in-memory database cannot work)"
        )
    return path


class Database:
    """A connection on its own thread, shared (refcounted) within a process."""

    _shared: dict[tuple[str, int], Database] = {}
    _shared_lock = threading.Lock()

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"xqueue-sqlite:{path}")
        self._conn: sqlite3.Connection | None = None
        self._refs = 0
        self._opened = False
        self._key: tuple[str, int] = ("", 0)
        self.local_writes = 0  # bumped on every commit made through this object

    @classmethod
    def acquire(cls, path: str) -> Database:
        """The process-wide database object for ``path`` (one more reference)."""
        import os

        key = (str(Path(path).resolve()), os.getpid())
        with cls._shared_lock:
            db = cls._shared.get(key)
            if db is None:
                db = cls._shared[key] = Database(path)
                db._key = key
            db._refs += 1
            return db

    async def release(self) -> None:
        """Drop a reference; the last one closes the connection and the thread."""

        with self._shared_lock:
            self._refs -= 1
            if self._refs > 0:
                return
            self._shared.pop(self._key, None)
        if self._conn is not None:
            await self.run(self._close)
        self._executor.shutdown(wait=True)

    def _close(self, conn: sqlite3.Connection) -> None:
        conn.close()
        self._conn = None

    def _connect(self) -> sqlite3.Connection:
        parent = Path(self.path).resolve().parent
        if not parent.is_dir():
            raise SettingsError(
                f"sqlite: directory {str(parent)!r} does not exist (for the database "
                f"file {self.path!r}); create it or point the URL elsewhere"
            )
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        # Switching a new file to WAL can fail at once with "database is locked" while
        # another process does the same (SQLite does not wait on busy_timeout there):
        # several workers starting together on a fresh file must all get in.
        give_up = time.monotonic() + 30
        delay = 0.01
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > give_up:
                    conn.close()
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.executescript(SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(types)")}
        if "defaults" not in columns:  # a file made by xqueue 0.1.0 before defaults existed
            conn.execute("ALTER TABLE types ADD COLUMN defaults TEXT")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(tasks)")}
        if "flow_key" not in columns:  # a file made before per-key limits
            conn.execute("ALTER TABLE tasks ADD COLUMN flow_key TEXT")
        if "schedule" not in columns:  # a file made before periodic schedules
            conn.execute("ALTER TABLE tasks ADD COLUMN schedule TEXT")
            conn.execute("ALTER TABLE tasks ADD COLUMN scheduled_for REAL")
        if "workflow" not in columns:  # a file made before task dependencies
            for column in ("depends_on TEXT", "on_parent_failure TEXT", "workflow TEXT"):
                conn.execute(f"ALTER TABLE tasks ADD COLUMN {column}")
        if "replay_of" not in columns:  # a file made before replays
            conn.execute("ALTER TABLE tasks ADD COLUMN replay_of TEXT")
            conn.execute("ALTER TABLE tasks ADD COLUMN replayed_by TEXT")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(key_cursor)")}
        if "taken" not in columns:  # a file made before per-key weights
            conn.execute("ALTER TABLE key_cursor ADD COLUMN taken INTEGER NOT NULL DEFAULT 0")
        conn.executescript(KEY_INDEXES)
        conn.executescript(RATE_SCHEMA)
        conn.executescript(DEBOUNCE_SCHEMA)
        conn.executescript(SCHEDULE_SCHEMA)
        conn.executescript(DEPENDENCY_SCHEMA)
        return conn

    async def open(self) -> None:
        if self._opened:
            return
        self._opened = True
        await self.run(lambda conn: None)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the database thread."""

        def call() -> T:
            if self._conn is None:
                self._conn = self._connect()
            return fn(self._conn)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except sqlite3.Error as exc:
            raise BackendError(f"sqlite {self.path}: {exc}") from exc

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside one ``BEGIN IMMEDIATE`` transaction (all or nothing)."""

        def tx(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            self.local_writes += 1
            return result

        return await self.run(tx)

    async def version(self) -> tuple[int, int]:
        """Changes whenever anyone commits: ``PRAGMA data_version`` sees other
        connections, ``local_writes`` this one (cheap: no read transaction)."""
        return await self.run(
            lambda c: (int(c.execute("PRAGMA data_version").fetchone()[0]), self.local_writes)
        )


class OnDatabase:
    """Open/close/ping of a backend on a shared :class:`Database` (broker and store)."""

    url: str
    path: str
    _db: Database | None

    def _attach(self, url: str) -> None:
        self.url = url
        self.path = path_from_url(url)
        self._db = None

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError(f"{type(self).__name__} is not open")
        return self._db

    async def open(self) -> None:
        if self._db is None:
            db = Database.acquire(self.path)
            try:
                await db.open()
            except BaseException:
                await db.release()
                raise
            self._db = db

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.release()

    async def ping(self) -> None:
        await self.db.run(lambda c: c.execute("SELECT 1").fetchone())


def placeholders(n: int) -> str:
    return ",".join("?" * n)
