"""The soak's MQTT side: read every retained task status after the run, count drops."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import orjson

MQTT_PREFIX = "soak"
_DROPPED = re.compile(r"dropped_intermediate=(\d+)")
_LOST = re.compile(r"lost_latest=(\d+)")
_UNDELIVERED = re.compile(r"closed with undelivered events.*?count=(\d+)")


async def read_retained(port: int, timeout: float = 120.0) -> dict[str, dict[str, Any]]:
    """What a fresh subscriber gets on ``{prefix}/tasks/+/status``: task id -> latest status.

    The broker sends the retained messages of a subscription before anything
    published after it, so a marker the reader publishes to itself afterwards
    tells when all of them have arrived.
    """
    import aiomqtt

    marker = f"{MQTT_PREFIX}-audit/{uuid.uuid4().hex}"
    found: dict[str, dict[str, Any]] = {}
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"soak-audit-{uuid.uuid4().hex}") as c:
        await c.subscribe(f"{MQTT_PREFIX}/tasks/+/status", qos=1)
        await c.subscribe(marker, qos=1)
        await c.publish(marker, b"end", qos=1)
        async with asyncio.timeout(timeout):
            async for message in c.messages:
                topic = str(message.topic)
                if topic == marker:
                    break
                payload = message.payload
                if isinstance(payload, bytes | bytearray) and payload:
                    found[topic.split("/")[-2]] = orjson.loads(payload)
    return found


def notifier_counts(driver: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Drops of the driver's notifier (its stats) and of the workers' (their logs).

    A worker logs what it dropped once it has caught up and at close; a worker
    killed before that takes its count with it.
    """
    dropped = lost = undelivered = 0
    for log in workdir.glob("worker-*.log"):
        text = log.read_text(errors="replace")
        dropped += sum(int(n) for n in _DROPPED.findall(text))
        lost += sum(int(n) for n in _LOST.findall(text))
        undelivered += sum(int(n) for n in _UNDELIVERED.findall(text))
    return {
        "mqtt driver notifier: published events": driver.get("published"),
        "mqtt driver notifier: connects": driver.get("connects"),
        "mqtt notifier intermediate events dropped (driver + worker logs)": (
            (driver.get("dropped") or 0) + dropped
        ),
        "mqtt notifier latest states lost (driver + worker logs)": (driver.get("lost") or 0) + lost,
        "mqtt events undelivered at close (worker logs)": undelivered,
    }
