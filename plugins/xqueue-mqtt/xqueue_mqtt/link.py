"""The publishing side of one MQTT connection: a sliding window of ordered publishes.

Events are handed to the underlying paho client in order (paho sends them in
that order, ``window`` of them awaiting acknowledgement and the rest queued),
and more are sent as acknowledgements come back, so the stream never stops to
wait for a whole batch: a stop-and-wait publisher stalls on every batch for
TCP's delayed acknowledgements (~40 ms against a broker without TCP_NODELAY).

aiomqtt's own ``publish()`` costs one asyncio task and a scan of every pending
call per message (quadratic with hundreds in flight), so this reaches into two
aiomqtt 2.x internals: ``_client`` (the paho client) and ``_disconnected``
(resolved when the connection ends). The dependency is pinned to aiomqtt 2.x.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttCodeError

from xqueue_core.models import TaskEvent

from .messages import Outgoing


class Link:
    """Publishing over one :class:`aiomqtt.Client`, tracking what is not acknowledged yet.

    :param inflight: QoS 1/2 messages awaiting acknowledgement at once; lowered
        to the broker's Receive Maximum when an MQTT 5 broker announces one.
    :param on_done: called once per event whose messages were all acknowledged.
    """

    def __init__(
        self,
        client: aiomqtt.Client,
        inflight: int,
        qos: int,
        timeout: float,
        on_done: Callable[[], None],
    ) -> None:
        self.client = client
        self.window = inflight
        self._qos = qos
        self._timeout = timeout
        self._on_done = on_done
        self._paho: paho.Client = client._client
        self._paho.max_inflight_messages_set(inflight)
        self._mids: dict[int, int] = {}  # message id -> sequence number of its event
        self._flight: dict[int, list[Any]] = {}  # sequence -> [event or None, messages left]
        self._seq = 0
        self._progress = asyncio.Event()
        on_connect, on_publish = client._on_connect, client._on_publish  # aiomqtt's own

        def connected(
            c: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any = None
        ) -> None:
            limit = getattr(props, "ReceiveMaximum", None) if props is not None else None
            if isinstance(limit, int) and 0 < limit < self.window:
                # Nothing is in flight yet; paho's setter refuses once connected.
                self.window = limit
                self._paho._max_inflight_messages = limit
            on_connect(c, userdata, flags, rc, props)

        def published(c: paho.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
            on_publish(c, userdata, mid, rc, props)
            self._acked(mid)

        self._paho.on_connect = connected
        self._paho.on_publish = published

    @property
    def gone(self) -> asyncio.Future[None]:
        """Resolved (often with the reason as exception) when the connection ends."""
        future: asyncio.Future[None] = self.client._disconnected
        return future

    @property
    def in_flight(self) -> int:
        """Events (and presence messages) sent but not yet acknowledged."""
        return len(self._flight)

    def unacknowledged(self) -> list[TaskEvent]:
        """Events not fully acknowledged, oldest first: they go back into the buffer."""
        return [entry[0] for entry in self._flight.values() if entry[0] is not None]

    def send(self, messages: Sequence[Outgoing], event: TaskEvent | None = None) -> None:
        """Hand one event's messages to paho, in order. Raises MqttError if not connected."""
        self._seq += 1
        entry: list[Any] = [event, 0]
        self._flight[self._seq] = entry
        for message in messages:
            info = self._paho.publish(message.topic, message.payload, self._qos, message.retain)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise MqttCodeError(info.rc, f"could not publish to {message.topic}")
            if not info.is_published():
                self._mids[info.mid] = self._seq
                entry[1] += 1
        if entry[1] == 0:
            self._finish(self._seq)

    def _acked(self, mid: int) -> None:
        seq = self._mids.pop(mid, None)
        if seq is None:
            return
        entry = self._flight[seq]
        entry[1] -= 1
        if entry[1] == 0:
            self._finish(seq)
        self._progress.set()

    def _finish(self, seq: int) -> None:
        event = self._flight.pop(seq)[0]
        if event is not None:
            self._on_done()

    async def wait(self, wakeup: asyncio.Event) -> None:
        """Wait for an acknowledgement, ``wakeup``, or the end of the connection.

        Raises MqttError when the connection ends, or when messages are in flight
        and none was acknowledged for ``timeout`` seconds.
        """
        self._progress.clear()
        waiters = [asyncio.ensure_future(wakeup.wait())]
        if self._flight:
            waiters.append(asyncio.ensure_future(self._progress.wait()))
        try:
            waiting: set[asyncio.Future[Any]] = {*waiters, self.gone}
            timeout = self._timeout if self._flight else None
            await asyncio.wait(waiting, timeout=timeout, return_when="FIRST_COMPLETED")
        finally:
            for waiter in waiters:
                waiter.cancel()
            for waiter in waiters:
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
        if self.gone.done():
            raise aiomqtt.MqttError(f"connection lost: {self.reason()}")
        if self._flight and not self._progress.is_set() and not wakeup.is_set():
            raise aiomqtt.MqttError(
                f"broker acknowledged none of {len(self._mids)} messages within {self._timeout:g}s"
            )

    async def drain(self) -> None:
        """Wait until everything sent is acknowledged (raises like :meth:`wait`)."""
        never = asyncio.Event()
        while self._flight:
            await self.wait(never)

    def reason(self) -> str:
        gone = self.gone
        if not gone.done() or gone.cancelled():
            return "disconnected"
        exc = gone.exception()
        return str(exc) if exc is not None else "disconnected"

    def forget(self) -> None:
        """Mark the disconnect reason as seen, so asyncio does not log it as never retrieved."""
        gone = self.gone
        if gone.done() and not gone.cancelled():
            gone.exception()
