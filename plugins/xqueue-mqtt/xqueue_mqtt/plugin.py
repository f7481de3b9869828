"""The ``mqtt`` plugin: registers the notifier and announces workers in their presence topic."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from xqueue_core import hookimpl
from xqueue_core.interfaces import BackendSpec
from xqueue_core.settings import Settings

from .config import SCHEMES, parse_settings


def _notifier(url: str, settings: Settings) -> object:
    from .notifier import MqttNotifier

    return MqttNotifier(url, settings)


def _open_notifiers() -> list[Any]:
    """This loop's open MQTT notifiers; none (and no MQTT client imported) if none was made."""
    module = sys.modules.get(f"{__package__}.notifier")
    return [] if module is None else list(module.open_notifiers())


@hookimpl
def xqueue_register_backends(register: Callable[[BackendSpec], None]) -> None:
    """Offer the MQTT notifier for mqtt://, mqtts://, ws:// and wss:// URLs."""
    register(
        BackendSpec(
            role="notifier",
            schemes=SCHEMES,
            factory=_notifier,
            description="task status over MQTT (TCP, TLS, WebSockets) for browsers and devices",
            install_hint="pip install xqueue-mqtt",
        )
    )


@hookimpl
def xqueue_configure(settings: Settings) -> None:
    """Refuse a bad ``[mqtt]`` table or MQTT notifier URL at start-up, not at first use."""
    table = settings.extra("mqtt")
    urls = [u for u in settings.notify if urlsplit(u).scheme.lower() in SCHEMES]
    for url in urls:
        parse_settings(url, table)
    if table and not urls:
        parse_settings("mqtt://localhost", table)


@hookimpl
def xqueue_worker_start(worker_id: str, task_types: list[str]) -> None:
    """List the new worker in the presence message of this process's MQTT notifiers."""
    for notifier in _open_notifiers():
        notifier.worker_started(worker_id, task_types)


@hookimpl
def xqueue_worker_stop(worker_id: str) -> None:
    """Take the stopped worker out of the presence message."""
    for notifier in _open_notifiers():
        notifier.worker_stopped(worker_id)
