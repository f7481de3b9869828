"""The broker goes away: the worker never notices, subscribers get the final states anyway."""

from __future__ import annotations

import asyncio
import os
import signal

import structlog

from tests.mqtt.mqtt_helpers import Mosquitto, make_app, subscribe
from xqueue_core.testing.services import eventually

DROP_LOG = "mqtt notifier published only the latest state of some tasks"


async def test_offline_persistent_subscriber_gets_qos1_messages(
    mosquitto, sqlite_url, mqtt_plugin_only
):
    async with subscribe(mosquitto.port, ["t/status/+"], qos=1, client_id="sub", clean=False):
        pass  # the broker now keeps a session for "sub" and queues its QoS 1 messages
    app = make_app(sqlite_url, mosquitto.url("prefix=t&qos=1"), mqtt_plugin_only)

    @app.task("job")
    async def job(payload):
        return payload

    async with app.worker(concurrency=3):
        tasks = [await app.submit("job", {"i": i}) for i in range(3)]
        for task in tasks:
            assert (await app.wait(task.id, timeout=10)).status == "success"
        notifier = app.notifiers[0]
        await eventually(lambda: notifier.stats()["buffered"] == 0, 10, "everything published")

    async with subscribe(mosquitto.port, [], qos=1, client_id="sub", clean=False) as rec:
        await rec.wait_for(lambda: len(rec.messages) == 9, "9 queued messages")
    for task in tasks:
        seen = [m.topic.rsplit("/", 1)[1] for m in rec.messages if m.data["task_id"] == task.id]
        assert seen == ["pending", "processing", "success"]
    assert {m.qos for m in rec.messages} == {1}


async def test_broker_killed_mid_run_worker_unaffected_final_states_delivered(
    mosquitto: Mosquitto, sqlite_url, mqtt_plugin_only
):
    url = mosquitto.url("prefix=t&qos=1&buffer=20&reconnect_max=0.3")
    app = make_app(sqlite_url, url, mqtt_plugin_only)
    gate = asyncio.Event()

    @app.task("job")
    async def job(payload):
        if payload.get("hold"):
            await gate.wait()  # running when the broker dies, finishing while it is down
        return payload

    with structlog.testing.capture_logs() as logs:
        async with app.worker(concurrency=20):
            notifier = app.notifiers[0]
            async with subscribe(mosquitto.port, ["t/tasks/+/status"]) as before:
                held = [await app.submit("job", {"hold": True}) for _ in range(3)]
                quick = [await app.submit("job", {}) for _ in range(5)]
                await before.wait_for(
                    lambda: (
                        [before.statuses(t.id)[-1:] for t in held + quick]
                        == [["processing"]] * 3 + [["success"]] * 5
                    ),
                    "3 running and 5 finished tasks",
                )
            await eventually(lambda: notifier.stats()["buffered"] == 0, 10, "all published")
            assert notifier.stats()["dropped"] == 0

            mosquitto.kill()
            await eventually(lambda: not notifier.stats()["connected"], 10, "disconnect seen")
            gate.set()
            during = [await app.submit("job", {}) for _ in range(15)]
            for task in held + during:  # the worker carries on while the broker is down
                assert (await app.wait(task.id, timeout=10)).status == "success"
            # 3 + 15 * 3 events while down, room for 20: the rest coalesced per task.
            assert notifier.stats()["dropped"] >= 10

            await asyncio.to_thread(mosquitto.start)
            async with subscribe(mosquitto.port, ["t/tasks/+/status"]) as after:
                await after.wait_for(
                    lambda: all(after.statuses(t.id)[-1:] == ["success"] for t in held + during),
                    "final states of the tasks that ended during the outage",
                )
            await eventually(lambda: notifier.stats()["buffered"] == 0, 10, "all published")
            stats = notifier.stats()
    assert stats["connects"] == 2 and stats["lost"] == 0
    drops = [e for e in logs if e["event"] == DROP_LOG]
    assert sum(e["dropped_intermediate"] for e in drops) == stats["dropped"]
    assert any(e["event"] == "mqtt notifier reconnected" for e in logs)
    assert any(
        e["event"] == "mqtt notifier buffer full; keeping only the latest state per task"
        for e in logs
    )


async def test_broker_down_at_start(sqlite_url, mqtt_plugin_only):
    broker = Mosquitto()  # port chosen, not started yet
    app = make_app(sqlite_url, broker.url("prefix=t&reconnect_max=0.3"), mqtt_plugin_only)

    @app.task("job")
    async def job(payload):
        return 1

    with structlog.testing.capture_logs() as logs:
        async with app.worker(concurrency=2):
            task = await app.submit("job", {})
            assert (await app.wait(task.id, timeout=10)).status == "success"
            health = await app.health()
            assert health[f"notifier:{broker.url('prefix=t&reconnect_max=0.3')}"].startswith(
                "error: mqtt broker"
            )
            try:
                await asyncio.to_thread(broker.start)
                async with subscribe(broker.port, ["t/tasks/+/status"]) as rec:
                    await rec.wait_for(lambda: rec.statuses(task.id)[-1:] == ["success"], "success")
                # Live, the whole buffered sequence; if it was sent already, the retained state.
                assert rec.statuses(task.id) in (["pending", "processing", "success"], ["success"])
                assert (await app.health())[next(k for k in health if "notifier" in k)] == "ok"
            finally:
                broker.stop()
    assert any(
        e["event"] == "mqtt broker unreachable; events are buffered until it is" for e in logs
    )


async def test_hung_broker_is_detected_and_events_follow_once_it_answers(
    mosquitto: Mosquitto, sqlite_url, mqtt_plugin_only
):
    app = make_app(
        sqlite_url, mosquitto.url("prefix=t&timeout=0.5&reconnect_max=0.3"), mqtt_plugin_only
    )

    @app.task("job")
    async def job(payload):
        return 1

    with structlog.testing.capture_logs() as logs:
        async with subscribe(mosquitto.port, ["t/tasks/+/status"]) as rec, app.worker():
            notifier = app.notifiers[0]
            os.killpg(mosquitto.proc.pid, signal.SIGSTOP)  # alive, accepting TCP, never answering
            try:
                task = await app.submit("job", {})
                assert (await app.wait(task.id, timeout=10)).status == "success"
                await eventually(lambda: notifier.last_error is not None, 10, "a publish timeout")
            finally:
                os.killpg(mosquitto.proc.pid, signal.SIGCONT)
            await rec.wait_for(lambda: "success" in rec.statuses(task.id), "the final state")
            assert notifier.connects >= 2
    lost = [e for e in logs if e["event"] == "mqtt connection lost; reconnecting"]
    assert "acknowledged none of" in lost[0]["error"]


async def test_close_while_the_broker_is_down_reports_what_was_not_delivered():
    from xqueue_mqtt import MqttNotifier

    from xqueue_core.models import TaskEvent, TaskStatus

    notifier = MqttNotifier(Mosquitto().url("timeout=0.5"))  # nothing listens there
    with structlog.testing.capture_logs() as logs:
        await notifier.open()
        await notifier.notify(
            [
                TaskEvent(str(i), "job", TaskStatus.SUCCESS, 0, None, None, None, 0.0)
                for i in range(3)
            ]
        )
        assert notifier.stats()["buffered"] == 3
        await notifier.close()
        await notifier.close()  # twice is fine
    undelivered = [e for e in logs if e["event"] == "mqtt notifier closed with undelivered events"]
    assert [e["count"] for e in undelivered] == [3]
    assert notifier.stats()["buffered"] == 0


async def test_a_notifier_can_be_opened_again_after_close(mosquitto):
    from xqueue_mqtt import MqttNotifier

    notifier = MqttNotifier(mosquitto.url("prefix=t"))
    for _ in range(2):
        await notifier.open()
        await notifier.ping()
        await notifier.close()
    assert notifier.stats()["connects"] == 2
