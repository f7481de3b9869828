"""``xqueue serve`` and ``xqueue api`` as commands: start, signals, workers, bad input."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.http.http_helpers import (
    LIMITS,
    HttpServer,
    Stream,
    descendants,
    server_env,
    submit,
    wait_status,
)
from xqueue_core.testing import reaper
from xqueue_core.testing.services import wait_until


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xqueue_core.cli.main", *args],
        cwd=tmp_path,
        env=server_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_sigterm_lets_running_tasks_finish(tmp_path: Path) -> None:
    server = HttpServer(tmp_path, "serve", env=LIMITS).start()
    try:
        server.wait_workers()
        assert f"http://127.0.0.1:{server.port}/" in server.text()  # the dashboard URL
        with server.client() as client:
            task = submit(client, "report", {"seconds": 1.0})
            wait_status(client, task["id"], ["processing"])
    finally:
        code = server.stop()  # fails if any process is left behind
    assert code == 0
    log = server.text()
    assert "finishing running tasks" in log and "worker stopped" in log
    result = run_cli(
        tmp_path, "status", task["id"], "--json", "--store", f"sqlite:///{tmp_path / 'xqueue.db'}"
    )
    assert '"status": "success"' in result.stdout, result


def test_ctrl_c_is_graceful_too(tmp_path: Path) -> None:
    server = HttpServer(tmp_path, "serve", args=["--processes", "2"], env=LIMITS).start()
    try:
        server.wait_workers(2)
        with server.client() as client:
            task = submit(client, "report", {"seconds": 1.0})
            wait_status(client, task["id"], ["processing"])
            assert server.proc is not None
            # A terminal sends SIGINT to the foreground process group; we are the group.
            os.killpg(server.proc.pid, signal.SIGINT)
            assert server.proc.wait(30) == 0
    finally:
        server.stop()
    log = server.text()
    assert log.count("worker stopped") == 2 and "handing back" not in log
    store = f"sqlite:///{tmp_path / 'xqueue.db'}"
    assert (
        '"status": "success"'
        in run_cli(tmp_path, "status", task["id"], "--json", "--store", store).stdout
    )


def test_a_crashed_worker_is_replaced(tmp_path: Path) -> None:
    server = HttpServer(tmp_path, "serve", env=LIMITS).start()
    try:
        server.wait_workers()
        assert server.proc is not None
        (worker,) = [p for p in descendants(server.proc.pid) if p != server.proc.pid]
        os.kill(worker, signal.SIGKILL)
        server.wait_workers(2)  # a new one announced itself
        assert "starting a new one" in server.text()
        with server.client() as client:
            task = submit(client, "email")
            wait_status(client, task["id"], ["success"])
    finally:
        server.stop()


def test_api_runs_no_workers_and_ends_open_streams_on_sigterm(tmp_path: Path) -> None:
    server = HttpServer(tmp_path, "api", env={**LIMITS, "XQUEUE_HTTP_SSE_KEEPALIVE": "60"})
    server.start()
    try:
        with server.client() as client:
            task = submit(client, "email")
            assert client.get("/health").status_code == 200
            assert client.get(f"/tasks/{task['id']}").json()["status"] == "pending"
            assert server.proc is not None and descendants(server.proc.pid) == []

            def seen_by_the_hub() -> bool:  # else its pending event may reach the new stream
                history = client.get(f"/tasks/{task['id']}/history").json()["events"]
                return any(not step["derived"] for step in history)

            wait_until(seen_by_the_hub, 10, "the API to read the task's pending event")
            with client.stream("GET", "/events") as response:
                stream = Stream(response)
                assert server.proc is not None
                server.proc.send_signal(signal.SIGTERM)
                assert stream.next() is None  # the server ends the stream cleanly
            assert server.proc.wait(10) == 0
    finally:
        server.stop()


def test_port_zero_picks_a_free_port(tmp_path: Path) -> None:
    server = HttpServer(tmp_path, "api", port=1)  # placeholder, replaced below
    server.argv[server.argv.index("--port") + 1] = "0"
    with server.log.open("ab") as out:
        proc = subprocess.Popen(
            server.argv,
            cwd=tmp_path,
            env=server.env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    reaper.watch(proc.pid)
    try:
        wait_until(lambda: "xqueue dashboard:" in server.text(), 30, "start")
        port = int(re.search(r"127\.0\.0\.1:(\d+)/ ", server.text())[1])  # type: ignore[index]
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        reaper.forget(proc.pid)


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = str(taken.getsockname()[1])
    try:
        one_line_error(
            run_cli(tmp_path, "api", "examples.app:app", "--port", port), "cannot listen"
        )
    finally:
        taken.close()
    one_line_error(run_cli(tmp_path, "serve", "--port", "0"), "no task handlers")
    one_line_error(run_cli(tmp_path, "api", "--store", "nope://x"), "nope")
    one_line_error(run_cli(tmp_path, "api", "no_such_module:app"), "no_such_module")
    short = run_cli(tmp_path, "api", XQUEUE_HTTP_READ_TOKEN="short")
    one_line_error(short, "read_token", "at least 8")
    assert "short" not in short.stderr.replace("at least", "")  # the token is not echoed
    one_line_error(run_cli(tmp_path, "api", XQUEUE_HTTP_PORT="eighty"), "port", "whole number")
    one_line_error(run_cli(tmp_path, "api", XQUEUE_HTTP_CORS_ORIGINS="example.com"), "origin")
    (tmp_path / "xqueue.toml").write_text("[http]\nprot = 8080\n")
    one_line_error(run_cli(tmp_path, "api"), "prot")


def test_settings_file_http_table(tmp_path: Path) -> None:
    (tmp_path / "xqueue.toml").write_text('[http]\nhost = "127.0.0.1"\nmax_page_size = 5\n')
    server = HttpServer(tmp_path, "api", app=None).start()
    try:
        with server.client() as client:
            assert client.get("/tasks", params={"limit": 5}).status_code == 200
            assert client.get("/tasks", params={"limit": 6}).status_code == 422
    finally:
        server.stop()


@pytest.mark.parametrize("command", ["serve", "api"])
def test_help_lists_the_options(tmp_path: Path, command: str) -> None:
    result = run_cli(tmp_path, command, "--help")
    assert result.returncode == 0
    for flag in ("--host", "--port", "--root-path", "--store", "--broker"):
        assert flag in result.stdout
    if command == "serve":
        assert "--processes" in result.stdout and "--concurrency" in result.stdout
