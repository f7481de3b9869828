"""MqttNotifier: publishes task events to an MQTT broker without ever blocking a worker.

``notify()`` only appends to a bounded :class:`~xqueue_mqtt.buffer.EventBuffer`.
One background task (started by ``open()``) connects, publishes the buffer in
order with many messages in flight, and on any connection loss reconnects with
exponential backoff and jitter, then continues from the first unacknowledged
event. The connection carries a last will, so subscribers learn when a process
disappears without saying goodbye.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import ssl
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiomqtt
import structlog
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from xqueue_core.errors import BackendError, SettingsError
from xqueue_core.models import TaskEvent

from .buffer import EventBuffer
from .config import MqttSettings, parse_settings, redact
from .messages import Outgoing, outgoing_many, presence_payload, presence_topic

if TYPE_CHECKING:
    from xqueue_core.settings import Settings

log = structlog.get_logger("xqueue.mqtt")
BATCH = 256
# CONNACK reasons that retrying will not fix: wrong protocol, client id, credentials.
FATAL_CONNACK = frozenset({0x84, 0x85, 0x86, 0x87, 0x8C})
_OPEN: weakref.WeakSet[MqttNotifier] = weakref.WeakSet()


def open_notifiers() -> list[MqttNotifier]:
    """The notifiers of this process that are open now (for the worker hooks)."""
    return list(_OPEN)


def _fatal_reason(exc: BaseException) -> str | None:
    """Why retrying cannot help (bad credentials, untrusted certificate), or None."""
    if str(exc).startswith("[SSL"):
        return str(exc)
    if isinstance(exc, MqttConnectError):
        value = getattr(exc.rc, "value", exc.rc)
        if value in FATAL_CONNACK or value in (1, 2, 4, 5):
            return str(exc)
    return None


class MqttNotifier:
    """Notifier for ``mqtt://``, ``mqtts://``, ``ws://`` and ``wss://`` URLs.

    :param url: the broker URL with optional settings in the query string.
    :param settings: the app settings; the ``[mqtt]`` table supplies defaults.
    """

    def __init__(self, url: str, settings: Settings | None = None) -> None:
        table = settings.extra("mqtt") if settings is not None else {}
        self.config: MqttSettings = parse_settings(url, table)
        self.url = redact(url)
        self._tls = self._tls_context() if self.config.tls else None
        self._buffer = EventBuffer(self.config.buffer)
        self._wakeup = asyncio.Event()
        self._stop = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._connected = False
        self._fatal: str | None = None
        self._workers: dict[str, list[str]] = {}
        self._presence_dirty = False
        self._reported = (0, 0)
        self.last_error: str | None = None
        self.published = 0
        self.connects = 0

    # -- life -------------------------------------------------------------------

    async def open(self) -> None:
        """Start the publisher and wait (up to ``timeout``) for the first connection.

        Raises BackendError when the broker refuses the credentials, client id
        or protocol; an unreachable broker only logs a warning: events are kept
        and published once it is reachable.
        """
        if self._runner is not None:
            return
        self._closing = False
        self._stop.clear()
        self._runner = asyncio.create_task(self._run(), name=f"xqueue-mqtt:{self.url}")
        _OPEN.add(self)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), self.config.timeout)
        if self._fatal is not None:
            await self.close()
            raise BackendError(f"mqtt broker {self.url} refused the connection: {self._fatal}")
        if not self._connected:
            log.warning(
                "mqtt broker unreachable; events are buffered until it is",
                url=self.url,
                error=self.last_error,
            )

    async def close(self) -> None:
        """Flush what is buffered (up to ``timeout``), say goodbye, disconnect."""
        runner = self._runner
        if runner is None:
            return
        self._closing = True
        self._stop.set()
        self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(runner), self.config.timeout)
        except TimeoutError:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        finally:
            _OPEN.discard(self)
            self._runner = None
            self._connected = False
        self._report_drops()
        left = self._buffer.clear()
        if left:
            log.warning("mqtt notifier closed with undelivered events", url=self.url, count=left)

    async def ping(self) -> None:
        """Raise BackendError unless connected to the broker now."""
        if not self._connected:
            reason = self.last_error or ("not open" if self._runner is None else "connecting")
            raise BackendError(f"mqtt broker {self.url} is not connected: {reason}")

    async def notify(self, events: Sequence[TaskEvent]) -> None:
        """Buffer events for publishing; returns at once, whatever the broker does."""
        if self._runner is None or self._closing:
            return
        was_coalescing = self._buffer.coalescing
        for event in events:
            self._buffer.put(event)
        if self._buffer.coalescing and not was_coalescing:
            log.warning(
                "mqtt notifier buffer full; keeping only the latest state per task",
                url=self.url,
                capacity=self.config.buffer,
                connected=self._connected,
            )
        self._wakeup.set()

    def stats(self) -> dict[str, Any]:
        """Counters: connected, buffered, published, dropped, lost, connects."""
        return {
            "connected": self._connected,
            "buffered": len(self._buffer),
            "published": self.published,
            "dropped": self._buffer.dropped,
            "lost": self._buffer.lost,
            "connects": self.connects,
            "last_error": self.last_error,
        }

    # -- presence of the workers in this process -----------------------------

    def worker_started(self, worker_id: str, task_types: Sequence[str]) -> None:
        """Announce a worker of this process in the retained presence message."""
        self._workers[worker_id] = list(task_types)
        self._presence_dirty = True
        self._wakeup.set()

    def worker_stopped(self, worker_id: str) -> None:
        """Remove a stopped worker from the presence message."""
        self._workers.pop(worker_id, None)
        self._presence_dirty = True
        self._wakeup.set()

    # -- the publisher ----------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        cfg = self.config
        name, path = "ca_certs", cfg.ca_certs
        try:
            context = ssl.create_default_context(cafile=cfg.ca_certs)
            if cfg.certfile:
                name, path = "certfile", cfg.certfile
                context.load_cert_chain(cfg.certfile, cfg.keyfile)
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SettingsError(
                f"mqtt setting {name!r} for {self.url}: cannot load {path!r}: {reason}"
            ) from None
        if cfg.tls_insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _properties(self, packet: int, expiry: int = 0) -> Properties | None:
        if self.config.protocol != 5:
            return None
        props = Properties(packet)  # type: ignore[no-untyped-call]
        if packet == PacketTypes.PUBLISH:
            props.PayloadFormatIndicator = 1
            props.ContentType = "application/json"
        if expiry:
            props.MessageExpiryInterval = expiry
        return props

    def _client(self) -> aiomqtt.Client:
        cfg = self.config
        version = aiomqtt.ProtocolVersion.V5 if cfg.protocol == 5 else aiomqtt.ProtocolVersion.V311
        will = None
        if cfg.presence:
            will = aiomqtt.Will(
                presence_topic(cfg.prefix, cfg.client_id),
                presence_payload(cfg.client_id, "offline", reason="connection lost", stamped=False),
                qos=max(cfg.qos, 1),
                retain=True,
                properties=self._properties(PacketTypes.WILLMESSAGE, cfg.presence_expiry),
            )
        client = aiomqtt.Client(
            cfg.host,
            cfg.port,
            username=cfg.username,
            password=cfg.password,
            identifier=cfg.client_id,
            protocol=version,
            will=will,
            transport=cfg.transport,
            timeout=cfg.timeout,
            keepalive=cfg.keepalive,
            max_inflight_messages=cfg.inflight,
            tls_context=self._tls,
            websocket_path=cfg.ws_path if cfg.transport == "websockets" else None,
        )
        # Hundreds of publishes in flight is how the publisher keeps up; not a problem.
        client.pending_calls_threshold = 1 << 30
        return client

    async def _run(self) -> None:
        cfg = self.config
        delay = cfg.reconnect_min
        last_try = False
        while not (self._closing and (last_try or not self._buffer)):
            last_try = self._closing  # after close(): one more attempt to flush, no more
            client = self._client()
            try:
                async with client:
                    self._connected = True
                    self.connects += 1
                    self.last_error = None
                    delay = cfg.reconnect_min
                    self._first_attempt.set()
                    if self.connects > 1:
                        log.info(
                            "mqtt notifier reconnected", url=self.url, buffered=len(self._buffer)
                        )
                    self._presence_dirty = cfg.presence
                    await self._pump(client)
                    await self._goodbye(client)
                return
            except aiomqtt.MqttError as exc:
                self._on_failure(exc)
            except Exception as exc:  # a bug must not stop event delivery for good
                log.exception("mqtt publisher failed", url=self.url)
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                self._connected = False
                self._first_attempt.set()
                _consume(client)
            if self._fatal is not None and self.connects == 0:
                return
            if self._closing:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, cfg.reconnect_max)

    def _on_failure(self, exc: aiomqtt.MqttError) -> None:
        self.last_error = str(exc) or type(exc).__name__
        fatal = _fatal_reason(exc)
        if fatal is not None and self.connects == 0:
            self._fatal = fatal
            return
        level = log.error if fatal else log.warning
        level(
            "mqtt connection lost; reconnecting" if self._connected else "mqtt connect failed",
            url=self.url,
            error=self.last_error,
            buffered=len(self._buffer),
        )

    async def _pump(self, client: aiomqtt.Client) -> None:
        """Publish the buffer in order until close() and nothing is left."""
        cfg = self.config
        gone = _disconnected(client)
        while True:
            if self._presence_dirty:
                self._presence_dirty = False
                payload = presence_payload(cfg.client_id, "online", self._workers)
                topic = presence_topic(cfg.prefix, cfg.client_id)
                await self._publish(client, [Outgoing(topic, payload, True)], gone)
            batch = self._buffer.peek(BATCH)
            if not batch:
                self._report_drops()
                if self._closing:
                    return
                self._wakeup.clear()
                if not self._buffer and not self._presence_dirty:
                    await _wait_either(self._wakeup, gone)
                continue
            await self._publish(client, outgoing_many(batch, cfg.prefix, cfg.retain), gone)
            self._buffer.commit(batch)
            self.published += len(batch)

    async def _publish(
        self, client: aiomqtt.Client, messages: list[Outgoing], gone: asyncio.Future[None]
    ) -> None:
        """Send messages in order with all of them in flight; raise MqttError on failure."""
        if not messages:
            return
        qos = self.config.qos
        props = self._properties(PacketTypes.PUBLISH)
        jobs = [
            asyncio.ensure_future(
                client.publish(m.topic, m.payload, qos, m.retain, props, timeout=math.inf)
            )
            for m in messages
        ]
        everything = asyncio.gather(*jobs)
        try:
            waiting: set[asyncio.Future[Any]] = {everything, gone}
            done, _ = await asyncio.wait(
                waiting, timeout=self.config.timeout, return_when="FIRST_COMPLETED"
            )
            if everything in done:
                everything.result()
                return
            if gone.done():
                raise aiomqtt.MqttError(f"connection lost: {_reason(gone)}")
            raise aiomqtt.MqttError(
                f"broker did not acknowledge {len(messages)} messages "
                f"within {self.config.timeout:g}s"
            )
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            with contextlib.suppress(BaseException):
                everything.exception()

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """Graceful close: tell live subscribers, then delete the retained presence."""
        cfg = self.config
        if not cfg.presence:
            return
        topic = presence_topic(cfg.prefix, cfg.client_id)
        with contextlib.suppress(aiomqtt.MqttError):
            await self._publish(
                client,
                [
                    Outgoing(
                        topic, presence_payload(cfg.client_id, "offline", reason="closed"), False
                    ),
                    Outgoing(topic, b"", True),
                ],
                _disconnected(client),
            )

    def _report_drops(self) -> None:
        dropped, lost = self._buffer.dropped, self._buffer.lost
        if (dropped, lost) == self._reported:
            return
        new_dropped, new_lost = dropped - self._reported[0], lost - self._reported[1]
        self._reported = (dropped, lost)
        (log.error if new_lost else log.warning)(
            "mqtt notifier published only the latest state of some tasks",
            url=self.url,
            dropped_intermediate=new_dropped,
            lost_latest=new_lost,
            dropped_total=dropped,
            lost_total=lost,
        )


def _disconnected(client: aiomqtt.Client) -> asyncio.Future[None]:
    # aiomqtt 2.x resolves this private future when the connection ends.
    future: asyncio.Future[None] = client._disconnected
    return future


def _reason(future: asyncio.Future[None]) -> str:
    if future.cancelled():
        return "cancelled"
    exc = future.exception()
    return str(exc) if exc is not None else "disconnected"


def _consume(client: aiomqtt.Client) -> None:
    """Mark the disconnect reason as seen, so asyncio does not log it as lost."""
    future = _disconnected(client)
    if future.done() and not future.cancelled():
        future.exception()


async def _wait_either(event: asyncio.Event, gone: asyncio.Future[None]) -> None:
    waiter = asyncio.ensure_future(event.wait())
    try:
        waiting: set[asyncio.Future[Any]] = {waiter, gone}
        await asyncio.wait(waiting, return_when="FIRST_COMPLETED")
    finally:
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
    if gone.done() and not event.is_set():
        raise aiomqtt.MqttError(f"connection lost: {_reason(gone)}")
