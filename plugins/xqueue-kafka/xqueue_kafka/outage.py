"""aiokafka's log lines while a broker is away, as one xqueue warning per outage.

aiokafka logs an ERROR or WARNING line for every failed connection, metadata
update, fetch and heartbeat while a broker restarts (dozens a second across a
producer, a consumer and an admin client); nothing in them is for the operator
but "the broker is gone" and, later, "it is back". :func:`install` puts a filter
on aiokafka's loggers that drops those lines and logs, through xqueue's logger,
one WARNING when the first arrives and one INFO when the broker next answers
(:func:`reachable`, called by the broker after a successful call). Group churn
that follows (rebalancing, a member id no longer known, the coordinator marked
dead) goes to DEBUG. Any other aiokafka line passes unchanged.
"""

from __future__ import annotations

import logging
import threading
import time

from xqueue_core.logs import get_logger

log = get_logger("xqueue.kafka")

# Prefixes of aiokafka's format strings (record.msg, before arguments are merged).
UNREACHABLE = (
    "Unable connect to",
    "Unable to request metadata from",
    "Unable to update metadata from",
    "Failed fetch messages from",
    "Failed fetch offsets from",
    "Got error produce response",
    "Cannot send %r to",
    "Could not send %r",
    "Error sending %s to node",
    "Heartbeat send request failed",
    "Heartbeat session expired",
    "Group Coordinator Request failed",
    "FindCoordinator Request failed",
    "Failed to commit on finallization",
    "LeaveGroup request failed",
)
GROUP_CHURN = (
    "Marking the coordinator dead",
    "Heartbeat failed",
    "OffsetCommit failed for group %s due to group error",
    "OffsetCommit failed for group %s - %s",
    "OffsetCommit failed for group %s on partition",  # a partition gone with the broker's log
)


class _Outage(logging.Filter):
    """Process-wide: aiokafka's loggers are too."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.msg if isinstance(record.msg, str) else ""
        if text.startswith(UNREACHABLE):
            self._down(record)
            return False
        if text.startswith(GROUP_CHURN):
            log.debug("kafka consumer group", detail=record.getMessage())
            return False
        return True

    def _down(self, record: logging.LogRecord) -> None:
        with self._lock:
            self.dropped += 1
            if self.down_since is not None:
                return
            self.down_since = time.monotonic()
        log.warning(
            "kafka broker unreachable; its clients keep retrying (one line until it is back)",
            reason=record.getMessage(),
        )

    def up(self) -> None:
        with self._lock:
            since, self.down_since = self.down_since, None
            dropped, self.dropped = self.dropped, 0
        if since is not None:
            log.info(
                "kafka broker reachable again",
                down_for_s=round(time.monotonic() - since, 1),
                driver_lines_dropped=dropped,
            )


OUTAGE = _Outage()
_installed: set[str] = set()


def install() -> None:
    """Filter every aiokafka logger that exists (they are made when aiokafka is
    imported); idempotent. A filter on a logger sees only that logger's own records,
    so each module's logger gets it."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        fresh = name.startswith("aiokafka") and name not in _installed
        if fresh and isinstance(logger, logging.Logger):
            logger.addFilter(OUTAGE)
            _installed.add(name)


def reachable() -> None:
    """The broker just answered: end the outage, if one was logged."""
    if OUTAGE.down_since is not None:
        OUTAGE.up()
