"""Fixtures for the MQTT notifier tests: a private mosquitto per test, plugin isolation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import xqueue_mqtt

from tests.mqtt.mqtt_helpers import Mosquitto
from xqueue_core.testing.services import mosquitto_reason

HERE = Path(__file__).parent


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    if (reason := mosquitto_reason()) is not None:
        pytest.fail(f"{reason} (plugins/xqueue-mqtt/apt-packages.txt)")
    with Mosquitto() as broker:
        yield broker


@pytest.fixture
def mqtt_plugin_only(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """No entry-point plugins: the tests pass ``plugins=[xqueue_mqtt.plugin]`` themselves."""
    monkeypatch.setenv("XQUEUE_LOAD_PLUGINS", "")
    return [xqueue_mqtt.plugin]
