"""Registers the Redis backends with xqueue (entry point ``redis``).

Each role lives in its own module and is imported only by its factory, so
``xqueue plugins`` lists this plugin even when the driver is missing or broken.
"""

from __future__ import annotations

from collections.abc import Callable

from xqueue_core import hookimpl
from xqueue_core.interfaces import BackendSpec
from xqueue_core.settings import Settings

SCHEMES = ("redis", "rediss")
INSTALL_HINT = "pip install xqueue-redis"


def _store(url: str, settings: Settings) -> object:
    from .store import RedisStore

    return RedisStore(url, settings)


def _broker(url: str, settings: Settings) -> object:
    from .broker import RedisBroker

    return RedisBroker(url, settings)


def specs() -> list[BackendSpec]:
    """Every backend this plugin offers (one per role)."""
    return [
        BackendSpec(
            role="store",
            schemes=SCHEMES,
            factory=_store,
            description="Redis store: task records, leases, per-type limits, events",
            install_hint=INSTALL_HINT,
        ),
        BackendSpec(
            role="broker",
            schemes=SCHEMES,
            factory=_broker,
            description="Redis Streams broker: priority bands, consumer group, reclaim",
            install_hint=INSTALL_HINT,
        ),
    ]


@hookimpl
def xqueue_register_backends(register: Callable[[BackendSpec], None]) -> None:
    """Offer the Redis store and broker for ``redis://`` and ``rediss://`` URLs."""
    for spec in specs():
        register(spec)
