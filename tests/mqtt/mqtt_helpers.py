"""Test helpers: a private mosquitto (TCP + WebSocket listeners), a recording subscriber."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from xqueue_core import XQueue
from xqueue_core.testing.services import (
    ServiceProcess,
    eventually,
    free_port,
    mosquitto_command,
)


class Mosquitto(ServiceProcess):
    """mosquitto on two free loopback ports: ``port`` (MQTT) and ``ws_port`` (WebSockets)."""

    def __init__(self, extra: str = "", listeners: str = "", extra_ports: list[int] = ()) -> None:
        self.ws_port = free_port()
        command = mosquitto_command(
            options=[extra or "allow_anonymous true"],
            listeners=[f"listener {self.ws_port} 127.0.0.1", "protocol websockets", listeners],
            log_types=("error", "warning", "notice"),
        )
        super().__init__("mosquitto", command, extra_ports=[self.ws_port, *extra_ports])

    def url(self, query: str = "", scheme: str = "mqtt") -> str:
        port = self.ws_port if scheme == "ws" else self.port
        return f"{scheme}://127.0.0.1:{port}{'?' + query if query else ''}"


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int

    @property
    def data(self) -> Any:
        return json.loads(self.payload) if self.payload else None


@dataclass
class Recorder:
    """Everything a subscriber received, in arrival order."""

    messages: list[Received] = field(default_factory=list)

    def on(self, suffix: str) -> list[Received]:
        return [m for m in self.messages if m.topic.endswith(suffix)]

    def statuses(self, task_id: str) -> list[str]:
        return [m.data["status"] for m in self.on(f"/tasks/{task_id}/status") if m.payload]

    async def wait_for(self, condition: Callable[[], object], what: str, timeout: float = 10):
        try:
            await eventually(condition, timeout, what)
        except TimeoutError:
            seen = "\n".join(f"  {m.topic} {m.payload[:120]!r}" for m in self.messages[-30:])
            raise AssertionError(f"timed out waiting for {what}; last messages:\n{seen}") from None


@contextlib.asynccontextmanager
async def subscribe(
    port: int,
    topics: list[str],
    qos: int = 1,
    client_id: str | None = None,
    clean: bool = True,
    recorder: Recorder | None = None,
) -> AsyncIterator[Recorder]:
    """A real MQTT subscriber on ``topics``; yields once the subscriptions are acknowledged."""
    rec = recorder or Recorder()
    client = aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier=client_id,
        clean_session=clean,
        protocol=aiomqtt.ProtocolVersion.V311,
    )
    async with client:
        for topic in topics:
            await client.subscribe(topic, qos=qos)

        async def collect() -> None:
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes | bytearray)
                rec.messages.append(
                    Received(str(message.topic), bytes(payload), message.retain, message.qos)
                )

        reader = asyncio.create_task(collect())
        try:
            yield rec
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader


def make_app(sqlite_url: str, url: str, plugins: list[object], **options: Any) -> XQueue:
    """An app on the embedded backend that notifies ``url``."""
    return XQueue(
        store=sqlite_url,
        broker=sqlite_url,
        notify=[url],
        plugins=plugins,
        autoload_plugins=False,
        **options,
    )
