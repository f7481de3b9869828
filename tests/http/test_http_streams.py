"""The server-sent event streams: every task, one task, resuming with Last-Event-ID."""

from __future__ import annotations

import httpx

from tests.http.http_helpers import HttpServer, Stream, error_of, submit, wait_status


def statuses_of(messages: list[dict], task_id: str) -> list[str]:
    return [
        m["data"]["status"]
        for m in messages
        if m["data"]["task_id"] == task_id and m["event"] == "status"
    ]


def test_all_events_follow_a_task_to_success(server: HttpServer, client: httpx.Client) -> None:
    with client.stream("GET", "/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        stream = Stream(response)
        task = submit(client, "report", {"seconds": 0.2})
        messages = stream.until(lambda ms: "success" in statuses_of(ms, task["id"]))
    assert stream.retry == 1000
    mine = [m for m in messages if m["data"]["task_id"] == task["id"]]
    status = [m["data"]["status"] for m in mine if m["event"] == "status"]
    assert status == ["pending", "processing", "success"]
    progress = [m["data"]["progress"] for m in mine if m["event"] == "progress"]
    assert progress and progress == sorted(progress)
    assert all(m["id"] for m in mine)  # every message carries its cursor
    event = mine[0]["data"]
    assert set(event) == {
        "task_id", "type", "status", "retry", "error", "progress", "worker_id", "timestamp",
        "kind",
    }  # fmt: skip


def test_waiting_and_release_are_events(client: httpx.Client) -> None:
    """A task with depends_on streams waiting, then pending when its parent's end
    releases it, then runs."""
    with client.stream("GET", "/events") as response:
        stream = Stream(response)
        parent = submit(client, "report", {"seconds": 0.3})
        child = submit(client, "email", {}, depends_on=[parent["id"]])
        messages = stream.until(lambda ms: "success" in statuses_of(ms, child["id"]))
    assert statuses_of(messages, child["id"]) == ["waiting", "pending", "processing", "success"]
    released = next(
        i for i, m in enumerate(messages)
        if m["data"]["task_id"] == child["id"] and m["data"]["status"] == "pending"
    )  # fmt: skip
    parent_end = next(
        i for i, m in enumerate(messages)
        if m["data"]["task_id"] == parent["id"] and m["data"]["status"] == "success"
    )  # fmt: skip
    assert parent_end < released  # released by its parent's end


def test_keepalives_flow_while_idle(client: httpx.Client) -> None:
    with client.stream("GET", "/events") as response:
        stream = Stream(response)
        assert stream.next() == {}  # keep-alive comments every 0.5 s in this server
        assert stream.comments >= 1


def test_resume_with_last_event_id_misses_nothing(client: httpx.Client) -> None:
    with client.stream("GET", "/events") as response:
        first = submit(client, "email")
        messages = Stream(response).until(lambda ms: "success" in statuses_of(ms, first["id"]))
    last_id = messages[-1]["id"]
    # While no one listens, more tasks run.
    later = [submit(client, "email", {"n": i}) for i in range(3)]
    for task in later:
        wait_status(client, task["id"], ["success"])
    with client.stream("GET", "/events", headers={"Last-Event-ID": last_id}) as response:
        stream = Stream(response)
        resumed = stream.until(lambda ms: all("success" in statuses_of(ms, t["id"]) for t in later))
    ids = [m["id"] for m in resumed]
    assert last_id not in ids and len(ids) == len(set(ids))
    for task in later:
        assert statuses_of(resumed, task["id"]) == ["pending", "processing", "success"]
    # the same through ?after= (for clients that cannot set headers)
    with client.stream("GET", "/events", params={"after": last_id}) as response:
        again = Stream(response).until(lambda ms: len(ms) >= len(resumed))
    assert [m["id"] for m in again[: len(resumed)]] == ids


def test_type_filter(client: httpx.Client) -> None:
    with client.stream("GET", "/events", params={"type": "broken"}) as response:
        submit(client, "email")
        broken = submit(client, "broken")
        messages = Stream(response).until(lambda ms: "failed" in statuses_of(ms, broken["id"]))
    assert {m["data"]["type"] for m in messages} == {"broken"}


def test_one_task_stream_ends_at_the_final_state(client: httpx.Client) -> None:
    task = submit(client, "report", {"seconds": 0.3})
    with client.stream("GET", f"/tasks/{task['id']}/events") as response:
        assert response.status_code == 200
        stream = Stream(response)
        messages = stream.until(lambda ms: False)  # runs until the server ends the stream
    assert messages[0]["event"] == "task" and messages[0]["data"]["id"] == task["id"]
    assert "id" not in messages[0]  # a snapshot has no cursor
    assert {m["data"]["task_id"] for m in messages[1:]} == {task["id"]}
    assert messages[-1]["event"] == "status" and messages[-1]["data"]["status"] == "success"


def test_one_task_stream_of_a_finished_task(client: httpx.Client) -> None:
    task = submit(client, "email")
    wait_status(client, task["id"], ["success"])
    with client.stream("GET", f"/tasks/{task['id']}/events") as response:
        messages = Stream(response).until(lambda ms: False)
    assert [m["event"] for m in messages] == ["task"]
    assert messages[0]["data"]["status"] == "success"
    # An EventSource reconnecting after the end is told to stop (204).
    response = client.get(f"/tasks/{task['id']}/events", headers={"Last-Event-ID": "1"})
    assert response.status_code == 204


def test_stream_errors(client: httpx.Client) -> None:
    error_of(client.get("/tasks/01NOPE/events"), 404, "not_found")
    error_of(client.get("/events", headers={"Last-Event-ID": "not-a-cursor"}), 422)
    error_of(client.get("/events", params={"after": "\x7f"}), 422)
