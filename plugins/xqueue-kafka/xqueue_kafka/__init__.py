"""xqueue-kafka: the xqueue broker on Kafka (``kafka://host:9092``).

The broker class is imported lazily so that listing plugins works even when
the Kafka driver is missing or broken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .options import KafkaSettings, parse_settings

if TYPE_CHECKING:
    from .broker import KafkaBroker

__all__ = ["KafkaBroker", "KafkaSettings", "parse_settings"]


def __getattr__(name: str) -> Any:
    if name == "KafkaBroker":
        from .broker import KafkaBroker

        return KafkaBroker
    raise AttributeError(name)
