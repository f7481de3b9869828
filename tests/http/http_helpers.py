"""Helpers for the HTTP tests: the server as a child process, an SSE reader, waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from xqueue_core.testing import reaper
from xqueue_core.testing.services import free_port, port_open, wait_until

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
READY = "xqueue dashboard:"
# Small limits so the tests can cross them cheaply.
LIMITS = {
    "XQUEUE_MAX_PAYLOAD_BYTES": "4096",
    "XQUEUE_HTTP_MAX_BODY_BYTES": "65536",
    "XQUEUE_HTTP_MAX_BATCH": "50",
    "XQUEUE_HTTP_SSE_KEEPALIVE": "0.5",
    "XQUEUE_GRACE_PERIOD": "5",
}


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a server under test: no inherited XQUEUE_* settings, only
    the plugins the test names, the repository and this directory importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XQUEUE_")}
    env["XQUEUE_LOAD_PLUGINS"] = "http"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE)])
    env["XQUEUE_LOG_LEVEL"] = "info"
    env.update(extra)
    return env


class HttpServer:
    """``xqueue serve|api APP`` on a free port with a private SQLite file."""

    def __init__(
        self,
        workdir: Path,
        command: str = "serve",
        app: str | None = "examples.app:app",
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        backend: str | None = None,
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        backend = backend or f"sqlite:///{workdir / 'xqueue.db'}"
        self.argv = [sys.executable, "-m", "xqueue_core.cli.main", command]
        if app:
            self.argv.append(app)
        self.argv += ["--port", str(self.port), "--store", backend, "--broker", backend, *args]
        self.env = server_env(**(env or {}))
        self.log = workdir / f"{command}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.base}/api/v1"

    def start(self, timeout: float = 30.0) -> HttpServer:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        reaper.watch(self.proc.pid)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.text()}")
            return READY in self.text() and port_open(self.port)

        wait_until(ready, timeout, "the API to start")
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_workers(self, count: int = 1, timeout: float = 30.0) -> None:
        wait_until(lambda: self.text().count("worker started") >= count, timeout, "workers")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait; kill everything left (and fail loudly) past ``timeout``."""
        if self.proc is None:
            return None
        below = descendants(self.proc.pid)
        code: int | None = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        else:
            code = self.proc.returncode
        leftovers = [p for p in [self.proc.pid, *below] if alive(p)]
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait(10)
        reaper.forget(self.proc.pid)
        self.proc = None
        assert not leftovers, f"processes left after SIGTERM: {leftovers}\n{self.text()[-3000:]}"
        return code

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.api, timeout=10.0, headers=headers)


def submit(client: httpx.Client, task_type: str, payload: Any = None, **fields: Any) -> dict:
    body = {"type": task_type, "payload": payload or {}, **fields}
    response = client.post("/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def wait_status(
    client: httpx.Client, task_id: str, statuses: Sequence[str], timeout: float = 20.0
) -> dict:
    """Poll the task until its status is one of ``statuses``; return it."""
    seen: dict[str, Any] = {}

    def reached() -> bool:
        seen.update(client.get(f"/tasks/{task_id}").json())
        return seen.get("status") in statuses

    wait_until(reached, timeout, f"task {task_id} to become {'/'.join(statuses)}")
    return seen


def error_of(response: httpx.Response, status: int, code: str | None = None) -> str:
    """Assert an error answer: status, JSON shape, code; return the message."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    return str(body["error"]["message"])


class Stream:
    """Reads server-sent events from a streaming httpx response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines: Iterator[str] = response.iter_lines()
        self.retry: int | None = None
        self.comments = 0

    def next(self) -> dict[str, Any] | None:
        """The next message (``id``, ``event``, ``data``); ``{}`` for a keep-alive;
        None at the end of the stream."""
        message: dict[str, Any] = {}
        comment = False
        for line in self._lines:
            if line == "":
                if "data" in message:
                    message["data"] = orjson.loads(message["data"])
                    return message
                if comment:
                    return {}
                message = {}
                continue
            if line.startswith(":"):
                self.comments += 1
                comment = True
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "retry":
                self.retry = int(value)
            elif field == "data":
                message["data"] = message.get("data", "") + value
            else:
                message[field] = value
        return None

    def until(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        """Messages until ``done(messages)`` holds (keep-alives give control back)."""
        messages: list[dict[str, Any]] = []
        give_up = time.monotonic() + timeout
        while not done(messages):
            assert time.monotonic() < give_up, f"stream timed out; got {messages}"
            message = self.next()
            if message is None:
                break
            if message:
                messages.append(message)
        return messages
