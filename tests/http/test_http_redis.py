"""Several API processes sharing one Redis (store and broker): they see one state.

API ``a`` is ``xqueue serve examples.app:app`` (with a worker process), API ``b``
is ``xqueue api`` with no APP: it knows the task types only from what the
workers announced. Both on a private redis-server started for this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.http.http_helpers import LIMITS, HttpServer, Stream, error_of, submit, wait_status
from xqueue_core.testing.services import ServiceProcess, redis_command, wait_until

redis_argv = redis_command(durable=True)


@dataclass
class Cluster:
    redis: ServiceProcess
    a: HttpServer
    b: HttpServer


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    redis = ServiceProcess("redis", redis_argv).start()
    # few retries: while Redis is down, answers fail fast instead of riding it out
    url = f"redis://127.0.0.1:{redis.port}/0?prefix=h{uuid.uuid4().hex[:8]}&retries=2"
    env = {**LIMITS, "XQUEUE_LOAD_PLUGINS": "http,redis"}
    a = HttpServer(tmp_path_factory.mktemp("api-a"), "serve", backend=url, env=env)
    b = HttpServer(tmp_path_factory.mktemp("api-b"), "api", app=None, backend=url, env=env)
    try:
        a.start()
        b.start()
        a.wait_workers()
        yield Cluster(redis, a, b)
    finally:
        for server in (a, b):
            if server.proc is not None:
                server.stop()
        redis.stop()


@pytest.fixture
def clients(cluster: Cluster) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    with cluster.a.client() as a, cluster.b.client() as b:
        yield a, b


def test_a_task_submitted_on_one_api_is_seen_and_run_everywhere(clients) -> None:
    a, b = clients
    task = submit(b, "email", {"to": "redis@example.com"})  # b has no worker
    done = wait_status(a, task["id"], ["success"])
    assert done["result"] == {"sent_to": "redis@example.com"}
    assert b.get(f"/tasks/{task['id']}").json() == done
    listed = b.get("/tasks", params={"status": "success", "type": "email"}).json()["tasks"]
    assert task["id"] in [t["id"] for t in listed]
    assert a.get("/stats").json()["by_status"] == b.get("/stats").json()["by_status"]


def test_an_api_without_handlers_knows_the_announced_types(clients) -> None:
    _, b = clients
    handlers = {h["type"]: h for h in b.get("/handlers").json()["handlers"]}
    assert handlers["email"]["local"] is False and handlers["email"]["last_seen"]
    assert handlers["email"]["max_retry"] == 3  # the default the worker announced
    assert submit(b, "email")["max_retry"] == 3
    message = error_of(b.post("/tasks", json={"type": "nope"}), 422, "unknown_task_type")
    assert "email" in message
    types = b.get("/openapi.json").json()["components"]["schemas"]["Submit"]["properties"]
    assert "email" in types["type"]["enum"]


def test_idempotency_and_cancel_across_processes(clients) -> None:
    a, b = clients
    first = submit(a, "email", delay=600, idempotency_key="shared-key")
    again = submit(b, "email", delay=600, idempotency_key="shared-key")
    assert again["id"] == first["id"]
    assert b.delete(f"/tasks/{first['id']}").json()["status"] == "canceled"
    assert a.get(f"/tasks/{first['id']}").json()["status"] == "canceled"
    error_of(a.delete(f"/tasks/{first['id']}"), 409, "already_finished")


def test_limits_are_shared(clients) -> None:
    a, b = clients
    response = b.post("/concurrency", json={"task_type": "report", "max_concurrency": 1})
    assert response.status_code == 200
    assert a.get("/concurrency").json()["report"]["max_concurrency"] == 1
    tasks = [submit(b, "report", {"seconds": 0.5}) for _ in range(3)]
    peak = 0

    def all_done() -> bool:
        nonlocal peak
        peak = max(peak, a.get("/concurrency").json()["report"]["running"])
        return {a.get(f"/tasks/{t['id']}").json()["status"] for t in tasks} == {"success"}

    wait_until(all_done, 30, "the reports")
    assert peak == 1
    b.post("/concurrency", json={"task_type": "report", "max_concurrency": None})


def succeeded(messages: list[dict], task_id: str) -> bool:
    return any(
        m["event"] == "status"
        and m["data"]["task_id"] == task_id
        and m["data"]["status"] == "success"
        for m in messages
    )


def test_event_streams_and_cursors_are_shared(clients) -> None:
    a, b = clients
    with b.stream("GET", "/events") as response:
        first = submit(a, "email")  # submitted on a, run by a's worker, streamed by b
        messages = Stream(response).until(lambda ms: succeeded(ms, first["id"]))
    cursor = messages[-1]["id"]
    second = submit(b, "email")
    wait_status(a, second["id"], ["success"])
    # A cursor handed out by b resumes on a.
    with a.stream("GET", "/events", headers={"Last-Event-ID": cursor}) as response:
        resumed = Stream(response).until(lambda ms: succeeded(ms, second["id"]))
    assert first["id"] not in {m["data"]["task_id"] for m in resumed}
    statuses = [
        m["data"]["status"]
        for m in resumed
        if m["data"]["task_id"] == second["id"] and m["event"] == "status"
    ]
    assert statuses == ["pending", "processing", "success"]
    history = b.get(f"/tasks/{second['id']}/history").json()["events"]
    seen = [e["status"] for e in history if e["kind"] == "status" and not e["derived"]]
    assert seen == ["pending", "processing", "success"]


def test_health_follows_redis(cluster: Cluster, clients) -> None:
    a, b = clients
    assert a.get("/health").status_code == 200 and b.get("/health").status_code == 200
    cluster.redis.kill()
    try:
        for client in (a, b):
            response = client.get("/health")
            assert response.status_code == 503
            assert response.json()["checks"]["store"].startswith("error")
            error_of(client.get("/tasks"), 503, "backend_unavailable")
    finally:
        cluster.redis.start()
    wait_until(lambda: a.get("/health").status_code == 200, 20, "a to see redis again")
    wait_until(lambda: b.get("/health").status_code == 200, 20, "b to see redis again")
    task = submit(b, "email")
    wait_status(a, task["id"], ["success"])


def test_a_schedule_added_on_an_api_without_workers_is_ticked_by_serve(clients) -> None:
    """``xqueue serve`` ticks (its worker does), ``xqueue api`` alone manages: a schedule
    added on b fires on a, each tick once, and b shows its last run and task."""
    a, b = clients
    body = {"name": "beat", "type": "email", "every": 1, "payload": {"to": "beat@example.com"}}
    added = b.post("/schedules", json=body)
    assert added.status_code == 201, added.text
    fired: list[dict] = []

    def three_ticks() -> bool:
        tasks = a.get("/tasks", params={"type": "email", "limit": 200}).json()["tasks"]
        fired[:] = [t for t in tasks if t["schedule"] == "beat"]
        return len(fired) >= 3

    try:
        wait_until(three_ticks, 20, "three ticks fired by serve")
        state = b.get("/schedules/beat").json()
        assert state["last_run"] is not None and state["next_run"] > state["last_run"]
        last = b.get(f"/tasks/{state['last_task_id']}").json()
        assert last["schedule"] == "beat" and last["scheduled_for"] == state["last_run"]
    finally:
        assert b.delete("/schedules/beat").status_code == 200
    ticks = [t["scheduled_for"] for t in fired]
    assert len(set(ticks)) == len(ticks), ticks  # each tick once
    done = wait_status(b, fired[0]["id"], ["success"])
    assert done["result"] == {"sent_to": "beat@example.com"}
    error_of(b.get("/schedules/beat"), 404)
