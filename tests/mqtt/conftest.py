"""Fixtures for the MQTT notifier tests: a private mosquitto per test, plugin isolation."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import xqueue_mqtt
from mqtt_helpers import Mosquitto


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed (plugins/xqueue-mqtt/apt-packages.txt)")
    with Mosquitto() as broker:
        yield broker


@pytest.fixture
def mqtt_plugin_only(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """No entry-point plugins: the tests pass ``plugins=[xqueue_mqtt.plugin]`` themselves."""
    monkeypatch.setenv("XQUEUE_LOAD_PLUGINS", "")
    return [xqueue_mqtt.plugin]
