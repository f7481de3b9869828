"""Exact event sequences seen by a real MQTT subscriber, for every way a task can end."""

from __future__ import annotations

import asyncio

import pytest

from tests.mqtt.mqtt_helpers import Mosquitto, Recorder, make_app, subscribe

PAYLOAD_KEYS = {
    "task_id",
    "type",
    "status",
    "retry",
    "error",
    "progress",
    "worker_id",
    "timestamp",
    "kind",
    "v",
}


def stream(rec: Recorder, task_id: str) -> list[str]:
    """Statuses of ``task_id`` as seen on the ``{prefix}/status/{status}`` topics."""
    return [
        m.topic.rsplit("/", 1)[1]
        for m in rec.messages
        if "/status/" in m.topic and m.data["task_id"] == task_id
    ]


@pytest.mark.parametrize(
    ("scheme", "query"),
    [("mqtt", "protocol=5"), ("mqtt", "protocol=311"), ("ws", "protocol=5")],
    ids=["mqtt5", "mqtt311", "websockets"],
)
async def test_success_and_progress(
    mosquitto: Mosquitto, sqlite_url, mqtt_plugin_only, scheme, query
):
    app = make_app(sqlite_url, mosquitto.url(f"prefix=t&qos=1&{query}", scheme), mqtt_plugin_only)

    seen_progress = asyncio.Event()

    @app.task("work")
    async def work(payload, ctx):
        ctx.progress(0.5)
        await asyncio.wait_for(seen_progress.wait(), 10)  # the subscriber saw it live
        return {"ok": True}

    async with subscribe(mosquitto.port, ["t/#"]) as rec, app.worker(concurrency=5):
        task = await app.submit("work", {"n": 1})
        await rec.wait_for(lambda: rec.on(f"/tasks/{task.id}/progress"), "progress")
        seen_progress.set()
        assert (await app.wait(task.id, timeout=10)).status == "success"
        await rec.wait_for(lambda: "success" in rec.statuses(task.id), "success event")

    assert rec.statuses(task.id) == ["pending", "processing", "success"]
    assert stream(rec, task.id) == ["pending", "processing", "success"]
    progress = rec.on(f"/tasks/{task.id}/progress")
    assert [m.data["progress"] for m in progress] == [0.5]
    assert progress[0].data["status"] == "processing"
    assert {m.data["kind"] for m in progress} == {"progress"}
    final = rec.on(f"/tasks/{task.id}/status")[-1].data
    assert set(final) == PAYLOAD_KEYS
    assert final["type"] == "work" and final["error"] is None and final["v"] == 1
    assert final["worker_id"] and final["timestamp"].endswith("Z")

    # A subscriber that arrives afterwards sees the retained latest state and progress.
    async with subscribe(mosquitto.port, [f"t/tasks/{task.id}/+"]) as late:
        await late.wait_for(lambda: len(late.messages) == 2, "retained messages")
    assert all(m.retain for m in late.messages)
    assert late.statuses(task.id) == ["success"]
    assert late.on("/progress")[0].data["progress"] == 0.5


async def test_waiting_and_release(mosquitto, sqlite_url, mqtt_plugin_only):
    """A task with depends_on is published waiting, then pending when its parent's end
    releases it (or canceled, naming the parent that failed), like any transition."""
    app = make_app(sqlite_url, mosquitto.url("prefix=t&qos=1"), mqtt_plugin_only)

    @app.task("work")
    async def work(payload, ctx):
        if payload.get("fail"):
            raise RuntimeError("boom")
        return {"parents": sorted(ctx.parents)}

    async with subscribe(mosquitto.port, ["t/#"]) as rec, app:
        good = await app.submit("work", {})
        bad = await app.submit("work", {"fail": True})
        child = await app.submit("work", {}, depends_on=[good.id])
        doomed = await app.submit("work", {}, depends_on=[bad.id])
        await rec.wait_for(lambda: "waiting" in rec.statuses(doomed.id), "waiting events")
        async with app.worker(concurrency=5):
            assert (await app.wait(child.id, timeout=10)).result == {"parents": [good.id]}
            assert (await app.wait(doomed.id, timeout=10)).status == "canceled"
            await rec.wait_for(lambda: "success" in rec.statuses(child.id), "the child's end")
            await rec.wait_for(lambda: "canceled" in rec.statuses(doomed.id), "the cancel")

    assert rec.statuses(child.id) == ["waiting", "pending", "processing", "success"]
    assert stream(rec, child.id) == ["waiting", "pending", "processing", "success"]
    assert rec.statuses(doomed.id) == ["waiting", "canceled"]
    final = rec.on(f"/tasks/{doomed.id}/status")[-1].data
    assert final["error"] == f"parent {bad.id} ended failed"


async def test_failure_with_retries(mosquitto, sqlite_url, mqtt_plugin_only):
    app = make_app(sqlite_url, mosquitto.url("prefix=t"), mqtt_plugin_only)

    @app.task("flaky", max_retry=2, retry_backoff=0.05)
    async def flaky(payload):
        raise RuntimeError("boom")

    async with subscribe(mosquitto.port, ["t/#"]) as rec, app.worker(concurrency=5):
        task = await app.submit("flaky", {})
        assert (await app.wait(task.id, timeout=10)).status == "failed"
        await rec.wait_for(lambda: "failed" in rec.statuses(task.id), "failed event")

    expected = ["pending", "processing", "pending", "processing", "pending", "processing", "failed"]
    assert rec.statuses(task.id) == expected
    assert stream(rec, task.id) == expected
    events = [m.data for m in rec.on(f"/tasks/{task.id}/status")]
    assert [e["retry"] for e in events] == [0, 0, 1, 1, 2, 2, 2]
    assert "RuntimeError: boom" in events[-1]["error"]
    assert "RuntimeError: boom" in events[2]["error"]  # the retry says why


async def test_process_timeout_then_retry_then_timeout(mosquitto, sqlite_url, mqtt_plugin_only):
    app = make_app(sqlite_url, mosquitto.url("prefix=t"), mqtt_plugin_only)

    @app.task("slow", max_retry=1, process_timeout=0.2, retry_backoff=0.05)
    async def slow(payload):
        await asyncio.sleep(30)

    async with subscribe(mosquitto.port, ["t/#"]) as rec, app.worker(concurrency=5):
        task = await app.submit("slow", {})
        assert (await app.wait(task.id, timeout=10)).status == "timeout"
        await rec.wait_for(lambda: "timeout" in rec.statuses(task.id), "timeout event")

    assert rec.statuses(task.id) == ["pending", "processing", "pending", "processing", "timeout"]
    assert stream(rec, task.id) == ["pending", "processing", "pending", "processing", "timeout"]
    final = rec.on(f"/tasks/{task.id}/status")[-1].data
    assert final["error"] == "process timeout after 0.2s" and final["retry"] == 1


async def test_cancel_pending_and_running(mosquitto, sqlite_url, mqtt_plugin_only):
    app = make_app(sqlite_url, mosquitto.url("prefix=t"), mqtt_plugin_only)
    started = asyncio.Event()

    @app.task("block")
    async def block(payload):
        started.set()
        await asyncio.sleep(30)

    async with subscribe(mosquitto.port, ["t/#"]) as rec, app.worker(concurrency=5):
        later = await app.submit("block", {}, delay=60)
        await app.cancel(later.id)
        running = await app.submit("block", {})
        await asyncio.wait_for(started.wait(), 10)
        await app.cancel(running.id)
        assert (await app.wait(running.id, timeout=10)).status == "canceled"
        await rec.wait_for(lambda: "canceled" in rec.statuses(running.id), "running canceled")
        await rec.wait_for(lambda: "canceled" in rec.statuses(later.id), "pending canceled")

    assert rec.statuses(later.id) == ["pending", "canceled"]
    assert stream(rec, later.id) == ["pending", "canceled"]
    assert rec.statuses(running.id) == ["pending", "processing", "canceled"]
    assert stream(rec, running.id) == ["pending", "processing", "canceled"]
    assert rec.on(f"/tasks/{running.id}/status")[-1].data["error"] == "canceled while running"


async def test_purged_task_clears_its_retained_messages(mosquitto, sqlite_url, mqtt_plugin_only):
    app = make_app(sqlite_url, mosquitto.url("prefix=t"), mqtt_plugin_only, result_ttl=0.3)

    @app.task("quick")
    async def quick(payload, ctx):
        ctx.progress(1.0)

    async with subscribe(mosquitto.port, ["t/tasks/#"]) as rec, app.worker(concurrency=2):
        task = await app.submit("quick", {})
        await app.wait(task.id, timeout=10)
        # The empty retained messages that delete the task's topics on the broker.
        await rec.wait_for(
            lambda: (
                {m.topic.rsplit("/", 1)[1] for m in rec.messages if not m.payload}
                == {"status", "progress"}
            ),
            "retained messages cleared",
        )
    assert rec.statuses(task.id) == ["pending", "processing", "success"]

    async with subscribe(mosquitto.port, ["t/#"]) as late:
        probe = await app_probe(mosquitto)
        await late.wait_for(lambda: any(m.topic == probe for m in late.messages), "probe")
    assert [m for m in late.messages if "/tasks/" in m.topic] == []


async def app_probe(mosquitto: Mosquitto) -> str:
    """Publish a retained marker; once a subscriber sees it, it has seen every retained message."""
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        await client.publish("t/probe", b"1", qos=1, retain=True)
    return "t/probe"
