"""Loading a plugin (every xqueue process does) does not import its heavy dependencies."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("entry_point", "heavy", "public"),
    [
        ("xqueue_http.plugin", "starlette", "from xqueue_http import create_app"),
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
