"""Registers the Kafka broker for ``kafka://`` URLs."""

from __future__ import annotations

from collections.abc import Callable

from xqueue_core import hookimpl
from xqueue_core.interfaces import BackendSpec
from xqueue_core.settings import Settings


def _broker(url: str, settings: Settings) -> object:
    from .broker import KafkaBroker

    return KafkaBroker(url, settings)


@hookimpl
def xqueue_register_backends(register: Callable[[BackendSpec], None]) -> None:
    """The broker role on Kafka (or any Kafka-protocol broker: Redpanda, Tansu)."""
    register(
        BackendSpec(
            role="broker",
            schemes=("kafka",),
            factory=_broker,
            description="Kafka broker: topics per priority band, consumer-group workers",
            install_hint="pip install xqueue-kafka",
        )
    )
