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
import random
import socket
import ssl
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from xqueue_core.errors import BackendError, SettingsError
from xqueue_core.logs import get_logger
from xqueue_core.models import TaskEvent
from xqueue_core.sections import redact_url

from .buffer import EventBuffer
from .config import MqttSettings, parse_settings
from .link import Link
from .messages import Outgoing, outgoing, presence_payload, presence_topic

if TYPE_CHECKING:
    from xqueue_core.settings import Settings

log = get_logger("xqueue.mqtt")
AHEAD = 4  # events handed to paho per message it may have in flight (paho queues them)
# CONNACK reasons that retrying will not fix: wrong protocol, client id, credentials.
FATAL_CONNACK = frozenset({0x84, 0x85, 0x86, 0x87, 0x8C})
_OPEN: weakref.WeakSet[MqttNotifier] = weakref.WeakSet()


def open_notifiers() -> list[MqttNotifier]:
    """The open notifiers of this process's running event loop (for the worker hooks).

    The worker hooks do not say which app a worker belongs to: with several
    apps on one loop, each one's notifiers list every worker of the loop.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return list(_OPEN)
    return [n for n in _OPEN if n._runner is not None and n._runner.get_loop() is loop]


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
        self.url = redact_url(url)
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
        self._link: Link | None = None
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
        self._closing, self._fatal = False, None
        self._stop.clear()
        self._first_attempt.clear()
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
            "buffered": len(self._buffer) + (self._link.in_flight if self._link else 0),
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

    def _will_properties(self) -> Properties | None:
        expiry = self.config.presence_expiry
        if self.config.protocol != 5 or not expiry:
            return None
        props = Properties(PacketTypes.WILLMESSAGE)  # type: ignore[no-untyped-call]
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
                properties=self._will_properties(),
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
            tls_context=self._tls,
            websocket_path=cfg.ws_path if cfg.transport == "websockets" else None,
            # Small publishes and their acknowledgements must not wait for Nagle's algorithm.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        return client

    async def _run(self) -> None:
        cfg = self.config
        delay = cfg.reconnect_min
        last_try = False
        while not (self._closing and (last_try or not self._buffer)):
            last_try = self._closing  # after close(): one more attempt to flush, no more
            client = self._client()
            link = Link(client, cfg.inflight, cfg.qos, cfg.timeout, self._delivered)
            self._link = link
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
                    await self._pump(link)
                    await self._goodbye(link)
                return
            except aiomqtt.MqttError as exc:
                self._on_failure(exc)
            except Exception as exc:  # a bug must not stop event delivery for good
                log.exception("mqtt publisher failed", url=self.url)
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                self._connected = False
                self._first_attempt.set()
                self._link = None
                self._buffer.requeue(link.unacknowledged())
                link.forget()
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

    def _delivered(self) -> None:
        self.published += 1

    async def _pump(self, link: Link) -> None:
        """Publish the buffer in order, a window ahead, until close() and nothing is left."""
        cfg = self.config
        while True:
            self._wakeup.clear()
            if self._presence_dirty:
                self._presence_dirty = False
                payload = presence_payload(cfg.client_id, "online", self._workers)
                link.send([Outgoing(presence_topic(cfg.prefix, cfg.client_id), payload, True)])
            room = AHEAD * link.window - link.in_flight
            if room > 0 and self._buffer:
                for event in self._buffer.take(room):
                    link.send(outgoing(event, cfg.prefix, cfg.retain, cfg.stream), event)
                continue
            if not self._buffer and not link.in_flight:
                self._report_drops()
                if self._closing:
                    return
            await link.wait(self._wakeup)

    async def _goodbye(self, link: Link) -> None:
        """Graceful close: tell live subscribers, then delete the retained presence."""
        cfg = self.config
        if not cfg.presence:
            return
        topic = presence_topic(cfg.prefix, cfg.client_id)
        goodbye = presence_payload(cfg.client_id, "offline", reason="closed")
        with contextlib.suppress(aiomqtt.MqttError):
            link.send([Outgoing(topic, goodbye, False), Outgoing(topic, b"", True)])
            await link.drain()

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
