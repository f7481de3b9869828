"""The Streams broker's layout and options: band streams, the group, timings, scripts.

Kept apart from :mod:`xqueue_redis.broker` so the policy (which band a
priority goes to, which order bands are read in, how often idle entries are
reclaimed) can be read and tested without a server.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xqueue_core.errors import SettingsError
from xqueue_core.models import Message
from xqueue_core.sections import load_section, setting, table_layer
from xqueue_core.settings import Settings

from .connection import build_scripts, lua_source
from .keys import Keys

BANDS = ("high", "normal", "low")  # the same bands as the Kafka broker
GROUP = "workers"
ORPHANS = "orphans"  # consumer that holds entries of workers that left, until reclaimed
SETTINGS_TABLE = "redis_broker"
BLOCK_CAP = 2.0  # longest single XREADGROUP BLOCK (checks for reclaimable entries between)
MAINTAIN_EVERY = 30.0  # seconds between stream trims / dead-consumer cleanups per worker
CONSUMER_IDLE_LIMIT = 3600.0  # a consumer with nothing pending and idle this long is removed
# every broker script, with broker_common.lua first (as common.lua for the store's)
SCRIPTS = build_scripts(
    lua_source("broker_common"),
    ("broker_ack", "broker_fetch", "broker_leave", "broker_publish", "broker_trim"),
)


def consumer_name() -> str:
    """A name unique to this broker instance: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class StreamLayout:
    """Where messages go and how they are read, derived from the settings.

    :param high_priority: a priority at or above it goes to the ``high`` band.
    :param low_priority: a priority at or below it goes to the ``low`` band.
    :param fairness: every ``fairness``-th fetch starts from a lower band.
    :param lease_ttl: the store's lease time; an entry its consumer stopped
        touching about this long ago is reclaimed (seconds).
    """

    keys: Keys
    high_priority: int = 1
    low_priority: int = -1
    fairness: int = 10
    lease_ttl: float = 15.0

    def stream(self, band: str) -> str:
        """The stream key of a band, e.g. ``{xqueue}:q:high``."""
        return self.keys.key(f"q:{band}")

    @property
    def streams(self) -> tuple[str, ...]:
        """Every band stream, highest band first."""
        return tuple(self.stream(band) for band in BANDS)

    def band(self, priority: int) -> str:
        if priority >= self.high_priority:
            return "high"
        if priority <= self.low_priority:
            return "low"
        return "normal"

    def stream_number(self, priority: int) -> int:
        """The 1-based position of the priority's band stream in :attr:`streams`
        (how the publishing scripts, given :attr:`streams` as keys, find it)."""
        return BANDS.index(self.band(priority)) + 1

    def order(self, fetch_number: int) -> tuple[str, ...]:
        """Band order of the ``fetch_number``-th fetch (1-based).

        High first; every ``fairness``-th fetch starts from ``normal`` and the
        next such fetch from ``low``, in turn. A message at the head of the low
        band therefore waits at most ``2 × fairness`` fetches of one worker.
        """
        if fetch_number % self.fairness:
            return BANDS
        start = 1 + (fetch_number // self.fairness - 1) % (len(BANDS) - 1)
        return (*BANDS[start:], *BANDS[:start])

    @property
    def min_idle_ms(self) -> int:
        """XAUTOCLAIM's idle threshold: the lease time plus one touch interval.

        A live consumer touches what it holds every :attr:`touch_every`, so an
        entry idle this long belongs to a consumer that died at least a lease
        ago: the store's lease of its task has run out too, and the claim that
        follows the reclaim can start the task again at once.
        """
        return max(1, int((self.lease_ttl + self.touch_every) * 1000))

    @property
    def reclaim_every(self) -> float:
        """How often a fetch looks for entries of dead consumers (seconds)."""
        return min(max(self.lease_ttl / 4, 0.05), 1.0)

    @property
    def touch_every(self) -> float:
        """How often a live consumer resets the idle time of what it holds (seconds)."""
        return max(self.lease_ttl / 3, 0.02)


@dataclass(frozen=True, slots=True)
class BandSettings:
    """The ``[redis_broker]`` table: where the priority bands start."""

    high_priority: int = setting(1)
    low_priority: int = setting(-1)


def layout_from(settings: Settings, keys: Keys) -> StreamLayout:
    """The layout for ``settings``; thresholds from the ``[redis_broker]`` table if any."""
    table: Mapping[str, Any] = settings.extra(SETTINGS_TABLE)
    bands = load_section(BandSettings, SETTINGS_TABLE, [table_layer(table, SETTINGS_TABLE)]).build()
    if bands.low_priority >= bands.high_priority:
        raise SettingsError(
            f"{SETTINGS_TABLE} setting 'low_priority' ({bands.low_priority}) must be "
            f"below 'high_priority' ({bands.high_priority})"
        )
    return StreamLayout(
        keys,
        high_priority=bands.high_priority,
        low_priority=bands.low_priority,
        fairness=settings.priority_fairness,
        lease_ttl=settings.lease_ttl,
    )


def entry_fields(message: Message) -> dict[str, str | int]:
    """A message as stream entry fields (the same three names in every entry, so
    Redis stores the names once per listpack node, not once per entry)."""
    return {"id": message.task_id, "type": message.type, "priority": message.priority}


def message_from_fields(fields: Mapping[str, Any] | None) -> Message | None:
    """The message in a stream entry; None if the entry is not an xqueue message."""
    if not fields:
        return None
    try:
        return Message(str(fields["id"]), str(fields["type"]), int(fields.get("priority", 0)))
    except (KeyError, TypeError, ValueError):
        return None
