"""xqueue-mqtt: live task status pushed over MQTT to browsers and devices.

Add ``mqtt://host:1883?prefix=xqueue`` (or ``mqtts://``, ``ws://``, ``wss://``)
to ``XQUEUE_NOTIFY``; every task event is then published to
``{prefix}/tasks/{task_id}/status`` (retained) and ``{prefix}/status/{status}``,
progress to ``{prefix}/tasks/{task_id}/progress``. See ``docs/mqtt.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xqueue_core.lazy import lazy_exports

from . import plugin

if TYPE_CHECKING:
    from .buffer import EventBuffer
    from .config import MqttSettings, parse_settings
    from .messages import (
        PAYLOAD_VERSION,
        event_payload,
        presence_topic,
        progress_topic,
        status_topic,
        stream_topic,
    )
    from .notifier import MqttNotifier

# imported on first use: loading the plugin does not import the MQTT client
_LAZY = {
    "EventBuffer": "buffer",
    "MqttSettings": "config",
    "parse_settings": "config",
    **dict.fromkeys(
        [
            "PAYLOAD_VERSION",
            "event_payload",
            "presence_topic",
            "progress_topic",
            "status_topic",
            "stream_topic",
        ],
        "messages",
    ),
    "MqttNotifier": "notifier",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

__version__ = "0.1.0"

__all__ = [
    "PAYLOAD_VERSION",
    "EventBuffer",
    "MqttNotifier",
    "MqttSettings",
    "__version__",
    "event_payload",
    "parse_settings",
    "plugin",
    "presence_topic",
    "progress_topic",
    "status_topic",
    "stream_topic",
]
