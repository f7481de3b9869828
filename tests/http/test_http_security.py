"""Tokens, CORS, the loopback default, and errors that must not leak internals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.http.http_faulty_app import SECRET
from tests.http.http_helpers import HttpServer, error_of

READ = "read-token-2b7e151628"
ADMIN = "admin-token-ae2d2a6abf"
ORIGIN = "https://app.example.com"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """``xqueue api`` with both tokens, one CORS origin and a store that fails on purpose."""
    workdir = tmp_path_factory.mktemp("secured")
    store = f"faulty:///{workdir / 'xqueue.db'}"
    env = {
        "XQUEUE_HTTP_READ_TOKEN": READ,
        "XQUEUE_HTTP_ADMIN_TOKEN": ADMIN,
        "XQUEUE_HTTP_CORS_ORIGINS": ORIGIN,
        "FAULTY_FLAG": str(workdir / "down"),
        "XQUEUE_HTTP_REQUEST_TIMEOUT": "1",
    }
    srv = HttpServer(workdir, "api", app="http_faulty_app:app", args=["--store", store], env=env)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_or_bad_token_is_401(secured: HttpServer) -> None:
    with secured.client() as client:
        response = client.get("/tasks")
        error_of(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
        error_of(client.post("/tasks", json={"type": "echo"}), 401)
        error_of(client.get("/events"), 401)
        wrong = client.get("/tasks", headers=bearer("not-the-token"))
        error_of(wrong, 401)
        assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
        error_of(client.get("/tasks", headers={"Authorization": "Basic YTpi"}), 401)
        error_of(client.get("/tasks", headers={"Authorization": "Bearer"}), 401)
        error_of(client.get("/openapi.json"), 401)


def test_read_token_reads_but_does_not_change(secured: HttpServer) -> None:
    with secured.client(**bearer(READ)) as client:
        assert client.get("/tasks").status_code == 200
        assert client.get("/handlers").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        with client.stream("GET", "/events") as response:
            assert response.status_code == 200
        message = error_of(client.post("/tasks", json={"type": "echo"}), 403, "forbidden")
        assert "admin" in message
        error_of(client.post("/tasks/batch", json={"tasks": [{"type": "echo"}]}), 403)
        error_of(client.delete("/tasks/01ANY"), 403)
        error_of(client.post("/concurrency", json={"task_type": "echo", "max_concurrency": 1}), 403)
        # the operator's changes: replay, pause and resume, workflows
        for path in ("/tasks/01ANY/replay", "/concurrency/echo/pause", "/concurrency/echo/resume"):
            error_of(client.post(path), 403)
        error_of(client.post("/tasks/replay", json={"all": True}), 403)
        error_of(client.post("/workflows", json={"nodes": {"a": {"type": "echo"}}}), 403)
        assert client.get("/workers").status_code == 200  # reading them is a read


def test_admin_token_does_everything(secured: HttpServer) -> None:
    with secured.client(**bearer(ADMIN)) as client:
        response = client.post("/tasks", json={"type": "echo", "payload": {"a": 1}})
        assert response.status_code == 201
        task_id = response.json()["id"]
        assert client.get(f"/tasks/{task_id}").status_code == 200
        assert client.delete(f"/tasks/{task_id}").json()["status"] == "canceled"
        response = client.post("/concurrency", json={"task_type": "echo", "max_concurrency": 3})
        assert response.status_code == 200
        assert client.post("/concurrency/echo/pause").json()["paused"] is True
        assert client.post("/concurrency/echo/resume").json()["paused"] is False
        assert client.post("/tasks/replay", json={"all": True, "dry_run": True}).status_code == 200


def test_pages_need_no_token(secured: HttpServer) -> None:
    for path in ("/", "/docs", "/static/dashboard.js", "/static/docs.js"):
        assert httpx.get(secured.base + path).status_code == 200, path


def test_health_is_public_but_details_need_a_token(secured: HttpServer, tmp_path: Path) -> None:
    flag = Path(secured.env["FAULTY_FLAG"])
    public = httpx.get(secured.api + "/health")
    assert public.status_code == 200 and public.json()["checks"] == {"broker": "ok", "store": "ok"}
    flag.touch()
    try:
        down = httpx.get(secured.api + "/health")
        assert down.status_code == 503
        assert down.json() == {
            "status": "unavailable",
            "checks": {"broker": "ok", "store": "error"},
        }
        detailed = httpx.get(secured.api + "/health", headers=bearer(READ))
        assert detailed.status_code == 503
        assert detailed.json()["checks"]["store"].startswith("error: store unreachable")
        # A backend failure during a request is a 503 that does not repeat its details.
        failed = httpx.get(secured.api + "/tasks", headers=bearer(READ))
        error_of(failed, 503, "backend_unavailable")
        assert SECRET not in failed.text and failed.headers["retry-after"] == "1"
    finally:
        flag.unlink()
    assert httpx.get(secured.api + "/health").status_code == 200


def test_a_hanging_backend_is_a_503_after_the_request_timeout(secured: HttpServer) -> None:
    slow = Path(secured.env["FAULTY_FLAG"] + ".slow")
    slow.touch()
    try:
        started = time.monotonic()
        response = httpx.get(secured.api + "/tasks", headers=bearer(READ), timeout=30)
        waited = time.monotonic() - started
    finally:
        slow.unlink()
    error_of(response, 503, "backend_timeout")
    assert 1 <= waited < 20  # answered at the 1 s request_timeout, not after the minute
    assert httpx.get(secured.api + "/tasks", headers=bearer(READ)).status_code == 200


def test_unexpected_errors_are_a_generic_500(secured: HttpServer) -> None:
    response = httpx.get(secured.api + "/stats", headers=bearer(READ))
    message = error_of(response, 500, "internal_error")
    assert SECRET not in response.text and "RuntimeError" not in message
    log = secured.text()
    assert "Traceback" in log and SECRET in log  # the details stay in the server's log
    assert log.count(f"RuntimeError: unexpected failure: {SECRET}") == 1  # once, not twice


def test_tokens_never_reach_the_log(secured: HttpServer) -> None:
    with secured.client(**bearer(ADMIN)) as client:
        client.get("/tasks")
        client.get("/stats")  # an error is logged with its request
    log = secured.text()
    assert READ not in log and ADMIN not in log


def test_cors(secured: HttpServer) -> None:
    preflight = httpx.options(
        secured.api + "/tasks",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    simple = httpx.get(secured.api + "/tasks", headers={"Origin": ORIGIN, **bearer(READ)})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.get(
        secured.api + "/tasks", headers={"Origin": "https://evil.example", **bearer(READ)}
    )
    assert "access-control-allow-origin" not in other.headers
    evil = httpx.options(
        secured.api + "/tasks",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in evil.headers


def test_binds_to_loopback_by_default(secured: HttpServer) -> None:
    assert f"http://127.0.0.1:{secured.port}/" in secured.text()
    listening = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port = local.split(":")
        if state == "0A" and int(port, 16) == secured.port:
            listening.add(address)
    assert listening == {"0100007F"}  # 127.0.0.1, and nothing else
