"""``examples/test_api.sh`` against a real ``xqueue serve``: it passes, and it fails
(non-zero, naming the step) when an answer is wrong."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.http.http_helpers import LIMITS, ROOT, HttpServer

SCRIPT = ROOT / "examples" / "test_api.sh"


def run_script(server: HttpServer, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env={**os.environ, "XQUEUE_URL": server.base, "XQUEUE_WAIT": "20", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_walkthrough_passes_against_serve(server: HttpServer) -> None:
    result = run_script(server)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "== all" in result.stdout and "checks passed" in result.stdout
    assert "FAIL" not in result.stdout + result.stderr


def test_walkthrough_fails_on_a_wrong_answer(tmp_path: Path) -> None:
    env = {**LIMITS, "XQUEUE_HTTP_READ_TOKEN": "a-read-token-only"}
    secured = HttpServer(tmp_path, "api", env=env).start()
    try:
        result = run_script(secured)  # no token: /handlers answers 401
    finally:
        secured.stop()
    assert result.returncode == 1
    assert "FAIL: GET /handlers: expected HTTP 200, got 401" in result.stderr


def compose_command() -> list[str] | None:
    """``docker compose`` when the plugin is there, else the standalone ``docker-compose``."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_file_is_accepted_and_complete() -> None:
    import yaml

    command = compose_command()
    if command is None:
        pytest.fail(
            "neither 'docker compose' nor 'docker-compose' is installed "
            "(./scripts/test installs docker-compose)"
        )
    result = subprocess.run(
        [*command, "-f", str(ROOT / "examples" / "docker-compose.yml"), "config"],
        cwd=ROOT / "examples",
        env={k: v for k, v in os.environ.items() if not k.startswith("XQUEUE_")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"kafka", "redis", "mosquitto", "api", "worker"}
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "zookeeper" not in result.stdout
    assert "--appendonly" in services["redis"]["command"]
    assert (
        services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1]
        == "yes"
    )
    conf = ROOT / "examples" / "mqtt" / "mosquitto.conf"  # the MQTT example's broker config
    if conf.exists():
        assert "protocol websockets" in conf.read_text()
    mosquitto = services["mosquitto"]
    assert any(
        v.endswith("mqtt/mosquitto.conf:/xqueue/mosquitto.conf:ro")
        or (isinstance(v, dict) and v.get("source", "").endswith("mqtt/mosquitto.conf"))
        for v in mosquitto["volumes"]
    ), mosquitto["volumes"]
    assert "0.0.0.0" in " ".join(mosquitto["command"])
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["XQUEUE_BROKER"].startswith("kafka://")
        assert env["XQUEUE_STORE"].startswith("redis://")
        assert env["XQUEUE_NOTIFY"].startswith("mqtt://")
        assert services[name]["build"]["dockerfile"] == "examples/Dockerfile"
    port = services["api"]["ports"][0]
    published = port["host_ip"] if isinstance(port, dict) else port.split(":")[0]
    assert published == "127.0.0.1"  # the API is not exposed beyond the host
    assert (ROOT / "examples" / "Dockerfile").read_text().count("xqueue-http") == 1
