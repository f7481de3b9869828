"""Presence and last will, credentials, TLS, QoS levels and retain, as a real broker sees them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mqtt.mqtt_helpers import Mosquitto, make_app, subscribe
from xqueue_core.errors import BackendError
from xqueue_core.testing import reaper
from xqueue_core.testing.services import free_port

HERE = Path(__file__).parent


def presence(rec, client_id):
    return [m for m in rec.messages if m.topic == f"t/workers/{client_id}"]


async def test_last_will_announces_a_killed_worker(mosquitto, sqlite_url):
    url = mosquitto.url("prefix=t&client_id=w1")
    env = {**os.environ, "XQUEUE_LOAD_PLUGINS": ""}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "worker_process.py"),
        sqlite_url,
        url,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    reaper.watch(proc.pid)
    try:
        async with subscribe(mosquitto.port, ["t/workers/+"]) as rec:
            await rec.wait_for(
                lambda: any(
                    m.data
                    and m.data["workers"]
                    == [{"worker_id": "will-test-worker", "task_types": ["job"]}]
                    for m in presence(rec, "w1")
                ),
                "the worker announced online",
            )
            online = presence(rec, "w1")[-1].data
            assert online["state"] == "online" and online["pid"] == proc.pid
            proc.kill()  # SIGKILL: no goodbye, the broker publishes the will
            await rec.wait_for(
                lambda: presence(rec, "w1")[-1].data["state"] == "offline", "the last will"
            )
        will = presence(rec, "w1")[-1]
        assert will.data["reason"] == "connection lost" and will.data["pid"] == proc.pid
        async with subscribe(mosquitto.port, ["t/workers/+"]) as late:
            await late.wait_for(lambda: late.messages, "retained presence")
        assert late.messages[0].retain and late.messages[0].data["state"] == "offline"
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        reaper.forget(proc.pid)


async def test_graceful_close_says_goodbye_and_clears_presence(
    mosquitto, sqlite_url, mqtt_plugin_only
):
    app = make_app(sqlite_url, mosquitto.url("prefix=t&client_id=w2"), mqtt_plugin_only)

    @app.task("job")
    async def job(payload):
        return 1

    async with subscribe(mosquitto.port, ["t/workers/+"]) as rec:
        async with app.worker(worker_id="w-graceful"):
            await rec.wait_for(
                lambda: any(m.data and m.data["workers"] for m in presence(rec, "w2")),
                "worker listed",
            )
        await rec.wait_for(lambda: presence(rec, "w2")[-1].payload == b"", "presence cleared")
    states = [(m.data or {}).get("state") for m in presence(rec, "w2")]
    assert states[-2:] == ["offline", None]
    assert presence(rec, "w2")[-2].data["reason"] == "closed"
    workers = [m.data["workers"] for m in presence(rec, "w2") if m.data and "workers" in m.data]
    assert workers[-1] == []  # the worker_stop hook took it out before the goodbye


def _password_file(tmp_path: Path) -> Path:
    path = tmp_path / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(path), "alice", "s3cret:/@"],
        check=True,
        capture_output=True,
    )
    path.chmod(0o600)
    return path


async def test_username_and_password(tmp_path, sqlite_url, mqtt_plugin_only):
    extra = f"allow_anonymous false\npassword_file {_password_file(tmp_path)}"
    with Mosquitto(extra=extra) as broker:
        good = f"mqtt://alice:s3cret%3A%2F%40@127.0.0.1:{broker.port}?prefix=t"
        app = make_app(sqlite_url, good, mqtt_plugin_only)
        async with app:
            await app.notifiers[0].ping()
        for protocol in ("5", "311"):
            bad = f"mqtt://alice:wrong@127.0.0.1:{broker.port}?protocol={protocol}"
            app = make_app(sqlite_url, bad, mqtt_plugin_only)
            with pytest.raises(BackendError) as info:
                await app.open()
            message = str(info.value)
            assert message.startswith("mqtt broker mqtt://alice:***@127.0.0.1:")
            assert "refused the connection" in message and "wrong" not in message
            assert "Not authorized" in message or "Bad user name or password" in message


def _certificates(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize("scheme", ["mqtts", "wss"])
async def test_tls(tmp_path, sqlite_url, mqtt_plugin_only, scheme):
    cert, key = _certificates(tmp_path)
    tls_port, wss_port = free_port(), free_port()
    listeners = "\n".join(
        [
            f"listener {tls_port} 127.0.0.1",
            "protocol mqtt",
            f"certfile {cert}",
            f"keyfile {key}",
            f"listener {wss_port} 127.0.0.1",
            "protocol websockets",
            f"certfile {cert}",
            f"keyfile {key}",
        ]
    )
    with Mosquitto(listeners=listeners, extra_ports=[tls_port, wss_port]) as broker:
        port = tls_port if scheme == "mqtts" else wss_port
        app = make_app(
            sqlite_url, f"{scheme}://127.0.0.1:{port}?prefix=t&ca_certs={cert}", mqtt_plugin_only
        )

        @app.task("job")
        async def job(payload):
            return 1

        async with subscribe(broker.port, ["t/tasks/+/status"]) as rec, app.worker():
            task = await app.submit("job", {})
            await rec.wait_for(lambda: rec.statuses(task.id)[-1:] == ["success"], "success")

        untrusted = make_app(sqlite_url, f"{scheme}://127.0.0.1:{port}", mqtt_plugin_only)
        with pytest.raises(BackendError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusted.open()


@pytest.mark.parametrize("qos", [0, 2])
async def test_qos_levels_and_retain_off(mosquitto, sqlite_url, mqtt_plugin_only, qos):
    app = make_app(sqlite_url, mosquitto.url(f"prefix=t&qos={qos}&retain=false"), mqtt_plugin_only)

    @app.task("job")
    async def job(payload):
        return 1

    async with subscribe(mosquitto.port, ["t/tasks/#"], qos=2) as rec, app.worker():
        task = await app.submit("job", {})
        await app.wait(task.id, timeout=10)
        await rec.wait_for(lambda: rec.statuses(task.id)[-1:] == ["success"], "success")
    assert rec.statuses(task.id) == ["pending", "processing", "success"]
    assert {m.qos for m in rec.messages} == {qos}
    async with subscribe(mosquitto.port, ["t/#"]) as late:
        async with make_app(
            sqlite_url, mosquitto.url("prefix=t&presence=false"), mqtt_plugin_only
        ) as probe_app:
            probe = await probe_app.submit("job", {})
        await late.wait_for(lambda: late.statuses(probe.id), "a live message after retained ones")
    assert late.statuses(task.id) == []  # nothing was retained


async def test_mqtt5_receive_maximum_limits_what_is_in_flight(sqlite_url, mqtt_plugin_only):
    # mosquitto announces max_inflight_messages as its Receive Maximum to MQTT 5 clients.
    with Mosquitto(extra="allow_anonymous true\nmax_inflight_messages 3") as broker:
        app = make_app(sqlite_url, broker.url("prefix=t&protocol=5&inflight=100"), mqtt_plugin_only)

        @app.task("job")
        async def job(payload):
            return 1

        async with subscribe(broker.port, ["t/tasks/+/status"]) as rec, app.worker(concurrency=20):
            notifier = app.notifiers[0]
            tasks = [await app.submit("job", {}) for _ in range(30)]
            await rec.wait_for(
                lambda: all(rec.statuses(t.id)[-1:] == ["success"] for t in tasks), "all final"
            )
            assert notifier._link is not None and notifier._link.window == 3
            assert notifier.stats()["connects"] == 1  # never cut off for exceeding it
