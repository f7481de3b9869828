"""Every REST route, status code and error, over real HTTP against ``xqueue serve``."""

from __future__ import annotations

import time

import httpx

from tests.http.http_helpers import HttpServer, error_of, submit, wait_status
from xqueue_core.models import iso
from xqueue_core.testing.services import wait_until

TASK_FIELDS = {
    "id", "type", "payload", "priority", "status", "retry", "max_retry", "queue_timeout",
    "process_timeout", "created_at", "updated_at", "started_at", "completed_at", "eta",
    "error", "worker_id", "result", "progress", "idempotency_key", "redeliveries", "key",
    "schedule", "scheduled_for", "depends_on", "on_parent_failure", "workflow", "replay_of",
    "replayed_by",
}  # fmt: skip


def count(client: httpx.Client) -> int:
    return int(client.get("/stats").json()["total"])


# -- submit -------------------------------------------------------------------------------


def test_submit_runs_to_success_and_get_returns_the_task(client: httpx.Client) -> None:
    response = client.post("/tasks", json={"type": "email", "payload": {"to": "a@example.com"}})
    assert response.status_code == 201
    task = response.json()
    assert set(task) == TASK_FIELDS
    assert task["status"] == "pending" and task["type"] == "email"
    assert task["max_retry"] == 3  # the handler's default
    assert response.headers["location"] == f"/api/v1/tasks/{task['id']}"
    done = wait_status(client, task["id"], ["success"])
    assert done["result"] == {"sent_to": "a@example.com"}
    assert done["started_at"] and done["completed_at"] and done["worker_id"]
    got = client.get(f"/tasks/{task['id']}")
    assert got.status_code == 200 and got.json() == done


def test_submit_options_are_kept(client: httpx.Client) -> None:
    task = submit(
        client,
        "email",
        {"n": 1},
        priority=7,
        max_retry=1,
        queue_timeout=600,
        process_timeout=30,
        delay=300,
    )
    assert (task["priority"], task["max_retry"]) == (7, 1)
    assert (task["queue_timeout"], task["process_timeout"]) == (600.0, 30.0)
    assert task["eta"] > task["created_at"]
    at = submit(client, "email", eta="2099-01-31T12:00:00Z")
    assert at["eta"] == "2099-01-31T12:00:00.000Z"


def test_idempotency_key_returns_the_first_task(client: httpx.Client) -> None:
    first = submit(client, "email", {"n": 1}, idempotency_key="order-42")
    again = submit(client, "email", {"n": 2}, idempotency_key="order-42")
    assert again["id"] == first["id"] and again["payload"] == {"n": 1}


def test_batch_submit(client: httpx.Client) -> None:
    body = {"tasks": [{"type": "email", "payload": {"n": i}} for i in range(5)]}
    response = client.post("/tasks/batch", json=body)
    assert response.status_code == 201
    tasks = response.json()["tasks"]
    assert [t["payload"]["n"] for t in tasks] == list(range(5))
    for task in tasks:
        wait_status(client, task["id"], ["success"])


def test_a_bad_batch_stores_nothing(client: httpx.Client) -> None:
    before = count(client)
    bad = {"tasks": [{"type": "email"}, {"type": "email", "priority": "high"}]}
    message = error_of(client.post("/tasks/batch", json=bad), 422, "invalid_field")
    assert message.startswith("task 1: priority")
    error_of(client.post("/tasks/batch", json={"tasks": []}), 422)
    error_of(client.post("/tasks/batch", json={"tasks": "x"}), 422)
    error_of(client.post("/tasks/batch", json={"tasks": [1]}), 422)
    error_of(client.post("/tasks/batch", json={"tasks": [{"type": "email"}], "x": 1}), 422)
    too_many = {"tasks": [{"type": "email"}] * 51}
    assert "at most 50" in error_of(client.post("/tasks/batch", json=too_many), 422)
    unknown = {"tasks": [{"type": "email"}, {"type": "nope"}]}
    error_of(client.post("/tasks/batch", json=unknown), 422, "unknown_task_type")
    assert count(client) == before


def test_bad_submits_get_precise_errors_and_change_nothing(client: httpx.Client) -> None:
    before = count(client)
    post = client.post
    error_of(post("/tasks", content=b'{"type": "email"', headers=_json()), 400, "malformed_json")
    error_of(post("/tasks", content=b"", headers=_json()), 400, "malformed_json")
    error_of(post("/tasks", content=b"[1, 2]", headers=_json()), 422, "invalid_field")
    error_of(post("/tasks", content=b'{"type": "email"}'), 415, "unsupported_media_type")
    form = {"content-type": "application/x-www-form-urlencoded"}
    error_of(post("/tasks", content=b"type=email", headers=form), 415)
    assert "type" in error_of(post("/tasks", json={"payload": {}}), 422, "invalid_field")
    assert "colour" in error_of(post("/tasks", json={"type": "email", "colour": 1}), 422)
    message = error_of(post("/tasks", json={"type": "nope"}), 422, "unknown_task_type")
    assert "email" in message and "report" in message  # names the registered types
    error_of(post("/tasks", json={"type": "email", "queue_timeout": -1}), 422, "invalid_field")
    error_of(post("/tasks", json={"type": "email", "priority": 1.5}), 422)
    error_of(post("/tasks", json={"type": "email", "payload": [1]}), 422)
    error_of(post("/tasks", json={"type": "email", "delay": 1, "eta": 2}), 422)
    error_of(post("/tasks", json={"type": "email", "eta": 1e300}), 422)
    error_of(post("/tasks", json={"type": "email", "eta": "0001-01-01T00:00:00+23:00"}), 422)
    error_of(post("/tasks", json={"type": "email", "delay": 1e12}), 422)
    error_of(post("/tasks", json={"type": "email", "eta": "tomorrow"}), 422)
    assert count(client) == before


def test_payload_and_body_size_limits(client: httpx.Client) -> None:
    before = count(client)
    big = {"type": "email", "payload": {"blob": "x" * 5000}}  # > max_payload_bytes 4096
    assert "4096" in error_of(client.post("/tasks", json=big), 413, "payload_too_large")
    huge = b'{"type": "email", "payload": {"blob": "' + b"x" * 70_000 + b'"}}'
    error_of(client.post("/tasks", content=huge, headers=_json()), 413, "body_too_large")

    def chunks():  # no Content-Length: the limit holds while reading
        yield huge

    streamed = client.post("/tasks", content=chunks(), headers=_json())
    error_of(streamed, 413, "body_too_large")
    assert count(client) == before


def _json() -> dict[str, str]:
    return {"content-type": "application/json"}


# -- reading --------------------------------------------------------------------------------


def test_list_filters_and_pages(client: httpx.Client) -> None:
    ids = [submit(client, "email", {"n": i}, delay=600)["id"] for i in range(7)]
    got: list[str] = []
    cursor = None
    while True:
        params = {"status": "pending", "type": "email", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/tasks", params=params)
        assert page.status_code == 200
        body = page.json()
        assert len(body["tasks"]) <= 3
        assert all(t["status"] == "pending" and t["type"] == "email" for t in body["tasks"])
        got += [t["id"] for t in body["tasks"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(got) == len(set(got))
    assert set(ids) <= set(got)
    assert got.index(ids[-1]) < got.index(ids[0])  # newest first
    reports = client.get("/tasks", params={"type": "report"}).json()["tasks"]
    assert all(t["type"] == "report" for t in reports)
    for task_id in ids:
        client.delete(f"/tasks/{task_id}")


def test_list_bounds(client: httpx.Client) -> None:
    for params in ({"limit": 0}, {"limit": 1001}, {"limit": "x"}, {"status": "done"}):
        error_of(client.get("/tasks", params=params), 422, "invalid_field")
    error_of(client.get("/tasks", params={"type": "bad type!"}), 422)
    error_of(client.get("/tasks", params={"cursor": "\x01"}), 422)
    assert client.get("/tasks", params={"limit": 1000}).status_code == 200


def test_unknown_task_is_404(client: httpx.Client) -> None:
    error_of(client.get("/tasks/01NOPE"), 404, "not_found")
    error_of(client.get("/tasks/01NOPE/history"), 404, "not_found")
    error_of(client.delete("/tasks/01NOPE"), 404, "not_found")
    error_of(client.get("/tasks/" + "x" * 300), 404, "not_found")


def test_routes_and_methods(client: httpx.Client, server: HttpServer) -> None:
    error_of(client.get("/nothing"), 404, "not_found")
    response = client.patch("/tasks", json={})
    error_of(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    assert client.head("/stats").status_code == 200


# -- cancel ----------------------------------------------------------------------------------


def test_cancel_pending_running_and_finished(client: httpx.Client) -> None:
    pending = submit(client, "email", delay=600)
    response = client.delete(f"/tasks/{pending['id']}")
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    message = error_of(client.delete(f"/tasks/{pending['id']}"), 409, "already_finished")
    assert "canceled" in message

    running = submit(client, "report", {"seconds": 30})
    wait_status(client, running["id"], ["processing"])
    started = time.monotonic()
    response = client.delete(f"/tasks/{running['id']}")
    assert response.status_code == 200 and response.json()["status"] == "processing"
    wait_status(client, running["id"], ["canceled"], timeout=5)
    assert time.monotonic() - started < 5

    done = submit(client, "email")
    wait_status(client, done["id"], ["success"])
    error_of(client.delete(f"/tasks/{done['id']}"), 409, "already_finished")


# -- the queue -------------------------------------------------------------------------------


def test_stats(client: httpx.Client) -> None:
    task = submit(client, "broken")
    wait_status(client, task["id"], ["failed"])
    stats = client.get("/stats").json()
    assert set(stats) == {"total", "by_status", "by_type", "running", "limits", "paused", "broker"}
    assert stats["by_status"]["failed"] >= 1 and stats["by_type"]["broken"] >= 1
    assert stats["total"] == sum(stats["by_status"].values())


def test_health(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"broker": "ok", "store": "ok"}}


def test_handlers(client: httpx.Client) -> None:
    handlers = {h["type"]: h for h in client.get("/handlers").json()["handlers"]}
    assert set(handlers) >= {"email", "report", "flaky", "broken", "primes"}
    assert handlers["primes"]["executor"] == "process"
    assert handlers["email"]["max_retry"] == 3 and handlers["email"]["local"] is True
    assert handlers["email"]["last_seen"]  # the worker announced it


def test_concurrency_get_and_set(client: httpx.Client) -> None:
    response = client.post("/concurrency", json={"task_type": "report", "max_concurrency": 2})
    assert response.status_code == 200
    no_keys = {"per_key": None, "keys": {}, "weights": {}, "paused": False}
    assert response.json() == {"task_type": "report", "max_concurrency": 2, "running": 0, **no_keys}
    assert client.get("/concurrency").json()["report"] == {
        "max_concurrency": 2,
        "running": 0,
        **no_keys,
    }
    tasks = [submit(client, "report", {"seconds": 1.0}) for _ in range(4)]
    peak = 0

    def all_done() -> bool:
        nonlocal peak
        peak = max(peak, client.get("/concurrency").json()["report"]["running"])
        statuses = {client.get(f"/tasks/{t['id']}").json()["status"] for t in tasks}
        return statuses == {"success"}

    wait_until(all_done, 30, "the report tasks")
    assert peak == 2
    response = client.post("/concurrency", json={"task_type": "report", "max_concurrency": None})
    assert response.json()["max_concurrency"] is None


def test_per_key_limits_over_rest(client: httpx.Client) -> None:
    post = client.post
    body = {"task_type": "report", "max_concurrency": 1}
    assert post("/concurrency", json={**body, "per_key": True}).json()["per_key"] == 1
    assert post("/concurrency", json={**body, "key": "acme", "max_concurrency": 3}).json()[
        "keys"
    ] == {"acme": 3}
    tasks = [submit(client, "report", {"seconds": 0.5}, key=k) for k in ("acme",) * 4 + ("b",) * 2]
    seen: dict[str, int] = {}

    def all_done() -> bool:
        for usage in client.get("/concurrency/report/keys", params={"top": 5}).json()["keys"]:
            seen[usage["key"]] = max(seen.get(usage["key"], 0), usage["running"])
            assert usage["limit"] == (3 if usage["key"] == "acme" else 1)
        statuses = {client.get(f"/tasks/{t['id']}").json()["status"] for t in tasks}
        return statuses == {"success"}

    wait_until(all_done, 30, "the report tasks")
    assert seen["acme"] <= 3 and seen["b"] <= 1 and seen["acme"] >= 2
    assert [t["key"] for t in tasks] == ["acme"] * 4 + ["b"] * 2
    for change in ({"per_key": True}, {"key": "acme"}):
        post("/concurrency", json={**body, **change, "max_concurrency": None})
    assert client.get("/concurrency").json()["report"]["keys"] == {}
    error_of(post("/concurrency", json={**body, "key": "a", "per_key": True}), 422)
    error_of(post("/concurrency", json={**body, "key": "*"}), 422)
    error_of(post("/concurrency", json={**body, "key": 5}), 422)
    error_of(post("/concurrency", json={**body, "per_key": "yes"}), 422)
    error_of(client.get("/concurrency/report/keys", params={"top": "many"}), 422)
    error_of(post("/tasks", json={"type": "report", "key": ""}), 422)
    assert client.get("/concurrency").json()["report"]["per_key"] is None  # nothing changed


def test_rates_over_rest(client: httpx.Client) -> None:
    post = client.post
    body = {"task_type": "report", "rate": "50/s"}
    assert post("/rates", json=body).json() == {
        "task_type": "report",
        "rate": "50/s",
        "per_key": None,
        "keys": {},
    }
    assert post("/rates", json={**body, "rate": "5/10s", "per_key": True}).json()["per_key"] == (
        "5/10s"
    )
    assert post("/rates", json={**body, "rate": "1/200ms", "key": "acme"}).json()["keys"] == {
        "acme": "1/200ms"
    }
    assert client.get("/rates").json()["report"] == {
        "rate": "50/s",
        "per_key": "5/10s",
        "keys": {"acme": "1/200ms"},
    }
    for bad, code in [
        ({**body, "rate": "0/s"}, None),
        ({**body, "rate": "5/fortnight"}, None),
        ({**body, "rate": 5}, None),
        ({**body, "key": "a", "per_key": True}, None),
        ({**body, "key": 5}, None),
        ({**body, "x": 1}, None),
        ({"task_type": "report"}, None),
        ({"task_type": "nope", "rate": "5/s"}, "unknown_task_type"),
    ]:
        assert "\n" not in error_of(post("/rates", json=bad), 422, code)
    for change in ({"per_key": True}, {"key": "acme"}, {}):
        post("/rates", json={**body, **change, "rate": None})
    assert client.get("/rates").json()["report"] == {"rate": None, "per_key": None, "keys": {}}


def test_debounce_over_rest(client: httpx.Client) -> None:
    body = {"type": "report", "payload": {"seconds": 0}, "key": "doc-7", "debounce": 60}
    first = client.post("/tasks", json=body)
    again = client.post("/tasks", json={**body, "payload": {"seconds": 0, "n": 2}})
    assert first.status_code == 201 and again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert client.get(f"/tasks/{first.json()['id']}").json()["payload"] == {"seconds": 0, "n": 2}
    before = count(client)
    for bad in (
        {**body, "debounce": 0},
        {**body, "debounce_max": 0},
        {**body, "delay": 5},
        {**body, "idempotency_key": "k"},
        {"type": "report", "debounce": 5},  # no key
        {"type": "report", "key": "k", "debounce_max": 5},
    ):
        assert "\n" not in error_of(client.post("/tasks", json=bad), 422)
    assert count(client) == before
    client.delete(f"/tasks/{first.json()['id']}")


def test_key_weights_over_rest(client: httpx.Client) -> None:
    body = {"task_type": "report", "key": "vip", "weight": 3}
    assert client.post("/concurrency/weights", json=body).json() == body
    assert client.get("/concurrency").json()["report"]["weights"] == {"vip": 3}
    for bad in ({**body, "weight": 0}, {**body, "weight": 1001}, {**body, "weight": "3"},
                {**body, "key": "*"}, {"task_type": "report", "key": "vip"},
                {**body, "task_type": "nope"}, {**body, "x": 1}):  # fmt: skip
        assert "\n" not in error_of(client.post("/concurrency/weights", json=bad), 422)
    assert client.get("/concurrency").json()["report"]["weights"] == {"vip": 3}
    back = client.post("/concurrency/weights", json={**body, "weight": None}).json()
    assert back["weight"] == 1 and client.get("/concurrency").json()["report"]["weights"] == {}


def test_schedules_over_rest(client: httpx.Client) -> None:
    body = {"name": "nightly", "type": "report", "cron": "0 3 * * *", "tz": "Europe/Berlin"}
    added = client.post("/schedules", json={**body, "payload": {"seconds": 0}})
    assert added.status_code == 201 and added.headers["location"] == "/api/v1/schedules/nightly"
    shown = added.json()
    assert shown["cron"] == "0 3 * * *" and shown["next_run"] and shown["last_run"] is None
    assert client.get("/schedules").json()["schedules"][0]["name"] == "nightly"
    paused = client.patch("/schedules/nightly", json={"enabled": False}).json()
    assert paused["enabled"] is False and paused["next_run"] is None
    ran = client.post("/schedules/nightly/run")
    assert ran.status_code == 201 and ran.json()["schedule"] == "nightly"
    before = client.get("/schedules/nightly").json()
    for bad, status in [
        ({**body, "name": "other", "cron": "61 * * * *"}, 422),
        ({**body, "name": "other", "tz": "Mars/Olympus"}, 422),
        ({"name": "other", "type": "report", "every": 0}, 422),
        ({"name": "other", "type": "nope", "every": 5}, 422),
        (body, 422),  # the name is taken
        ({**body, "name": "other", "source": "code"}, 422),
    ]:
        assert "\n" not in error_of(client.post("/schedules", json=bad), status)
    assert "\n" not in error_of(client.patch("/schedules/nightly", json={"name": "x"}), 422)
    assert "\n" not in error_of(client.patch("/schedules/nightly", json={"every": -1}), 422)
    error_of(client.get("/schedules/nope"), 404, "not_found")
    error_of(client.post("/schedules/nope/run"), 404, "not_found")
    assert client.get("/schedules/nightly").json() == before  # nothing changed
    assert [s["name"] for s in client.get("/schedules").json()["schedules"]] == ["nightly"]
    assert client.delete("/schedules/nightly").json() == {"name": "nightly", "deleted": True}
    error_of(client.delete("/schedules/nightly"), 404)


def test_workflows_over_rest(client: httpx.Client) -> None:
    graph = {
        "nodes": {
            "a": {"type": "email", "payload": {"to": "a@example.com"}},
            "b": {"type": "email", "payload": {"to": "b@example.com"}},
            "c": {"type": "email", "payload": {"to": "c@example.com"}, "options": {"priority": 5}},
        },
        "edges": {"c": ["a", "b"]},
    }
    made = client.post("/workflows", json=graph)
    assert made.status_code == 201, made.text
    wf = made.json()
    assert made.headers["location"] == f"/api/v1/workflows/{wf['id']}"
    ids = wf["task_ids"]
    c = client.get(f"/tasks/{ids['c']}").json()
    assert c["depends_on"] == [ids["a"], ids["b"]] and c["priority"] == 5
    assert c["workflow"] == wf["id"] and c["on_parent_failure"] == "cancel"

    def succeeded() -> bool:
        return bool(client.get(f"/workflows/{wf['id']}").json()["status"] == "success")

    wait_until(succeeded, 20, "the workflow to succeed")
    shown = client.get(f"/workflows/{wf['id']}").json()
    assert shown["counts"] == {"success": 3} and {t["id"] for t in shown["tasks"]} == set(
        ids.values()
    )
    nodes = {"x": {"type": "report", "payload": {"seconds": 30}}, "y": {"type": "email"}}
    slow = client.post("/workflows", json={"nodes": nodes, "edges": {"y": ["x"]}}).json()
    canceled = client.delete(f"/workflows/{slow['id']}").json()
    assert canceled["id"] == slow["id"]
    y = client.get(f"/tasks/{slow['task_ids']['y']}").json()
    assert y["status"] == "canceled"  # waiting: ended at once
    before = count(client)
    for bad in [
        {"nodes": {}},
        {"edges": {}},
        {"nodes": {"a": {"type": "email"}}, "edges": {"a": ["b"]}},
        {
            "nodes": {"a": {"type": "email"}, "b": {"type": "email"}},
            "edges": {"a": ["b"], "b": ["a"]},
        },
        {"nodes": {"a": {"type": "nope"}}},
        {"nodes": {"a": {"payload": {}}}},
        {"nodes": {"a": {"type": "email", "options": {"depends_on": ["x"]}}}},
        {"nodes": {"a": {"type": "email", "options": {"priority": "high"}}}},
        {"nodes": {"a": {"type": "email"}}, "x": 1},
    ]:
        assert "\n" not in error_of(client.post("/workflows", json=bad), 422)
    assert count(client) == before  # nothing stored
    error_of(client.get("/workflows/nope"), 404, "not_found")
    error_of(client.delete("/workflows/nope"), 404, "not_found")
    keyed = {**graph, "idempotency_key": "order-9"}
    once = client.post("/workflows", json=keyed)
    twice = client.post("/workflows", json=keyed)
    assert once.status_code == twice.status_code == 201 and once.json() == twice.json()
    other = {"nodes": {"z": {"type": "email"}}, "idempotency_key": "order-9"}
    assert "in use" in error_of(client.post("/workflows", json=other), 422)


def test_depends_on_over_rest(client: httpx.Client) -> None:
    """POST /tasks with depends_on: waiting until the parent ends, then it runs; an
    unknown parent or on_parent_failure alone is refused whole, nothing stored."""
    parent = client.post("/tasks", json={"type": "report", "payload": {"seconds": 0.5}}).json()
    made = client.post(
        "/tasks", json={"type": "email", "depends_on": [parent["id"]], "on_parent_failure": "run"}
    )
    assert made.status_code == 201, made.text
    child = made.json()
    assert child["status"] == "waiting" and child["depends_on"] == [parent["id"]]
    assert child["on_parent_failure"] == "run"

    def ran() -> bool:
        return bool(client.get(f"/tasks/{child['id']}").json()["status"] == "success")

    wait_until(ran, 20, "the child to run after its parent")
    assert client.get(f"/tasks/{parent['id']}").json()["status"] == "success"
    before = count(client)
    for bad in [
        {"type": "email", "depends_on": ["no-such-task"]},
        {"type": "email", "depends_on": [parent["id"], "no-such-task"]},
        {"type": "email", "depends_on": []},
        {"type": "email", "depends_on": parent["id"]},
        {"type": "email", "on_parent_failure": "run"},
        {"type": "email", "depends_on": [parent["id"]], "on_parent_failure": "skip"},
    ]:
        assert "\n" not in error_of(client.post("/tasks", json=bad), 422)
    batch = {"tasks": [{"type": "email"}, {"type": "email", "depends_on": ["no-such-task"]}]}
    assert "no-such-task" in error_of(client.post("/tasks/batch", json=batch), 422)
    assert count(client) == before  # nothing stored


def test_pause_and_resume_a_type(client: httpx.Client) -> None:
    """POST /concurrency/{type}/pause and /resume: the limit is kept, stats and GET
    /concurrency show it, a queued task waits until the resume; bad input is one line."""
    assert client.post("/concurrency", json={"task_type": "email", "max_concurrency": 7}).is_success
    paused = client.post("/concurrency/email/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json() | {"keys": {}, "weights": {}} == {
        "task_type": "email", "changed": True, "paused": True, "max_concurrency": 7,
        "running": 0, "per_key": None, "keys": {}, "weights": {},
    }  # fmt: skip
    assert client.post("/concurrency/email/pause").json()["changed"] is False
    assert client.get("/stats").json()["paused"] == ["email"]
    assert client.get("/concurrency").json()["email"]["paused"] is True
    task = client.post("/tasks", json={"type": "email", "payload": {}}).json()
    later = submit(client, "report", {"seconds": 0})  # submitted after it, runs before it
    wait_status(client, later["id"], ["success"])
    assert client.get(f"/tasks/{task['id']}").json()["status"] == "pending"
    resumed = client.post("/concurrency/email/resume").json()
    assert resumed["changed"] is True and resumed["paused"] is False
    assert resumed["max_concurrency"] == 7
    wait_status(client, task["id"], ["success"])
    assert client.get("/stats").json()["paused"] == []
    assert "\n" not in error_of(client.post("/concurrency/nope/pause"), 422)
    assert "\n" not in error_of(client.post("/concurrency/bad%20type/pause"), 422)
    assert client.post(
        "/concurrency", json={"task_type": "email", "max_concurrency": None}
    ).is_success


def test_workers_lists_the_serving_worker(server: HttpServer, client: httpx.Client) -> None:
    def listed() -> list[dict]:
        return list(client.get("/workers").json()["workers"])

    wait_until(lambda: bool(listed()), 10, "the serve worker's first report")
    [worker] = listed()
    assert set(worker) == {
        "id", "host", "pid", "types", "concurrency", "running", "version", "started_at",
        "last_seen", "expires_at",
    }  # fmt: skip
    assert "email" in worker["types"] and worker["last_seen"].endswith("Z")


def test_replay_one_and_by_filter(client: httpx.Client) -> None:
    dead = submit(client, "broken", {"why": "replay me"})
    wait_status(client, dead["id"], ["failed"])
    first = client.post(f"/tasks/{dead['id']}/replay")
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["created"] is True and made["replay_of"] == dead["id"]
    assert made["task"]["replay_of"] == dead["id"] and made["task"]["type"] == "broken"
    assert first.headers["location"] == f"/api/v1/tasks/{made['task']['id']}"
    again = client.post(f"/tasks/{dead['id']}/replay")
    assert again.status_code == 200 and again.json()["task"]["id"] == made["task"]["id"]
    assert client.get(f"/tasks/{dead['id']}").json()["replayed_by"] == made["task"]["id"]
    wait_status(client, made["task"]["id"], ["failed"])  # broken fails again: dead too
    # the dead tasks of this test: ended since the first was made (others' ended before)
    body = {"type": "broken", "error_contains": "always fails", "since": dead["created_at"]}
    dry = client.post("/tasks/replay", json={**body, "dry_run": True}).json()
    assert dry == {"matched": 1, "replayed": 0, "dry_run": True, "tasks": {}}
    done = client.post("/tasks/replay", json={**body, "limit": 1}).json()
    until = iso(time.time())
    assert done["matched"] == done["replayed"] == 1
    assert list(done["tasks"]) == [made["task"]["id"]]  # the replay, dead in turn
    again = client.post("/tasks/replay", json={**body, "until": until}).json()
    assert again["matched"] == 0  # each dead task is replayed once
    replay_of_replay = done["tasks"][made["task"]["id"]]
    wait_status(client, replay_of_replay, ["failed"])  # dead in turn: replay it by id
    ids = [dead["id"], replay_of_replay, "no-such-task"]  # replayed, dead, unknown
    exact = client.post("/tasks/replay", json={"task_ids": ids}).json()
    assert exact["matched"] == exact["replayed"] == 1 and list(exact["tasks"]) == [ids[1]]
    assert client.post("/tasks/replay", json={"task_ids": ids}).json()["matched"] == 0
    for bad in [{"task_ids": []}, {"task_ids": ids, "type": "broken"}, {"task_ids": "x"}]:
        assert "\n" not in error_of(client.post("/tasks/replay", json=bad), 422)
    ok = submit(client, "email", {"to": "a@example.com"})
    wait_status(client, ok["id"], ["success"])
    before = count(client)
    assert "only failed or timed-out" in error_of(
        client.post(f"/tasks/{ok['id']}/replay"), 409, "not_dead"
    )
    error_of(client.post("/tasks/nope/replay"), 404, "not_found")
    for bad in [
        {},
        {"status": "success"},
        {"since": "yesterday"},
        {"limit": 0},
        {"type": "broken", "x": 1},
        {"type": "broken", "dry_run": "yes"},
    ]:
        assert "\n" not in error_of(client.post("/tasks/replay", json=bad), 422)
    assert count(client) == before  # nothing made


def test_concurrency_errors(client: httpx.Client) -> None:
    post = client.post
    message = error_of(
        post("/concurrency", json={"task_type": "nope", "max_concurrency": 1}),
        422,
        "unknown_task_type",
    )
    assert "email" in message
    error_of(post("/concurrency", json={"task_type": "email", "max_concurrency": -1}), 422)
    error_of(post("/concurrency", json={"task_type": "email", "max_concurrency": "5"}), 422)
    error_of(post("/concurrency", json={"task_type": "email", "max_concurrency": 10**9}), 422)
    error_of(post("/concurrency", json={"task_type": "email"}), 422)
    error_of(post("/concurrency", json={"max_concurrency": 1}), 422)
    error_of(post("/concurrency", json={"task_type": "email", "max_concurrency": 1, "x": 1}), 422)
    error_of(post("/concurrency", content=b"{", headers=_json()), 400, "malformed_json")
    assert client.get("/concurrency").json()["email"]["max_concurrency"] is None


def test_history_and_throughput(client: httpx.Client) -> None:
    task = submit(client, "flaky", {"succeed_on": 2})
    wait_status(client, task["id"], ["success"])
    history = client.get(f"/tasks/{task['id']}/history").json()
    assert history["task_id"] == task["id"]
    statuses = [e["status"] for e in history["events"] if e["kind"] == "status"]
    assert statuses[0] == "pending" and statuses[-1] == "success"
    assert statuses.count("processing") == 2  # the first attempt failed, the retry ran
    stamps = [e["timestamp"] for e in history["events"]]
    assert stamps == sorted(stamps)
    seconds = client.get("/throughput", params={"seconds": 60}).json()["seconds"]
    assert len(seconds) == 60 and sum(s.get("success", 0) for s in seconds) >= 1
    error_of(client.get("/throughput", params={"seconds": 0}), 422)


def test_pages_and_openapi(server: HttpServer) -> None:
    page = httpx.get(server.base + "/")
    assert page.status_code == 200 and "xqueue dashboard" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "<script src=" in page.text and "http" not in page.text.split("<script src=")[1][:5]
    docs = httpx.get(server.base + "/docs")
    assert docs.status_code == 200 and "static/docs.js" in docs.text
    assert httpx.get(server.base + "/static/dashboard.js").status_code == 200
    spec = httpx.get(server.api + "/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "email" in spec["components"]["schemas"]["Submit"]["properties"]["type"]["enum"]
    paths = set(spec["paths"])
    assert {
        "/api/v1/tasks", "/api/v1/tasks/batch", "/api/v1/tasks/{task_id}",
        "/api/v1/tasks/{task_id}/events", "/api/v1/events", "/api/v1/stats",
        "/api/v1/health", "/api/v1/handlers", "/api/v1/concurrency",
    } <= paths  # fmt: skip


async def test_concurrent_submits_each_get_their_own_answer(server: HttpServer) -> None:
    """Single submits arriving together are written as one group; a refused one
    (unknown type) must not take the others down with it."""
    import asyncio

    async with httpx.AsyncClient(base_url=server.api, timeout=10) as client:
        before = (await client.get("/stats")).json()["total"]
        bodies = [
            {"type": "nope" if i % 5 == 0 else "email", "payload": {"n": i}} for i in range(40)
        ]
        answers = await asyncio.gather(*(client.post("/tasks", json=b) for b in bodies))
        for body, answer in zip(bodies, answers, strict=True):
            if body["type"] == "nope":
                error_of(answer, 422, "unknown_task_type")
            else:
                assert answer.status_code == 201 and answer.json()["payload"] == body["payload"]
        ids = {a.json()["id"] for a in answers if a.status_code == 201}
        assert len(ids) == 32
        assert (await client.get("/stats")).json()["total"] == before + 32
