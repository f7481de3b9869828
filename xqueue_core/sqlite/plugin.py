"""Registers the embedded SQLite broker and store, through the same hook as any plugin."""

from __future__ import annotations

from collections.abc import Callable

from ..hookspecs import hookimpl
from ..interfaces import BackendSpec
from ..settings import Settings


def _store(url: str, settings: Settings) -> object:
    from .store import SqliteStore

    return SqliteStore(url, settings)


def _broker(url: str, settings: Settings) -> object:
    from .broker import SqliteBroker

    return SqliteBroker(url, settings)


@hookimpl(trylast=True)
def xqueue_register_backends(register: Callable[[BackendSpec], None]) -> None:
    """The embedded default: broker and store in one SQLite file, no server needed."""
    register(
        BackendSpec(
            role="store",
            schemes=("sqlite",),
            factory=_store,
            description="embedded SQLite store (one host, several processes)",
        )
    )
    register(
        BackendSpec(
            role="broker",
            schemes=("sqlite",),
            factory=_broker,
            description="embedded SQLite broker (one host, several processes)",
        )
    )
