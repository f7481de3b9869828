"""Loading a plugin (every xqueue process does) does not import its heavy dependencies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("entry_point", "heavy", "public"),
    [
        ("xqueue_http.plugin", "starlette", "from xqueue_http import create_app"),
        ("xqueue_http.plugin", "click", "from xqueue_http.cli import serve"),
        ("xqueue_mqtt.plugin", "aiomqtt", "from xqueue_mqtt import MqttNotifier"),
    ],
)
def test_plugin_entry_point_is_lean(entry_point: str, heavy: str, public: str) -> None:
    code = (
        f"import sys, {entry_point}\n"
        f"print({heavy!r} in sys.modules)\n"
        f"{public}\n"
        f"print({heavy!r} in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_a_worker_with_every_plugin_loaded_imports_no_mqtt_client_or_cli(tmp_path: Path) -> None:
    """The worker start/stop hooks of xqueue-mqtt and the command hook of xqueue-http
    do not pull in aiomqtt or click when no MQTT notifier is configured, and finding the
    plugins needs no importlib.metadata (a worker's memory)."""
    url = f"sqlite:///{tmp_path / 'lean.db'}"
    code = (
        "import asyncio, sys\n"
        "from xqueue_core import XQueue\n"
        f"app = XQueue(broker={url!r}, store={url!r})\n"
        "@app.task('t')\n"
        "async def t(payload): return None\n"
        "async def main():\n"
        "    async with app.worker():\n"
        "        task = await app.submit('t', {})\n"
        "        await app.wait(task.id, timeout=20)\n"
        "    print(sorted(i.name for i in app.plugins.infos()))\n"
        "asyncio.run(main())\n"
        "heavy = ('aiomqtt', 'paho', 'click', 'importlib.metadata', 'redis')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("XQUEUE_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr[-3000:]
    loaded, imported = out.stdout.strip().splitlines()[-2:]
    assert "mqtt" in loaded and "http" in loaded, loaded
    assert imported == "[]"
