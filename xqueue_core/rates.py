"""Rate limits: at most N starts of a type, or of one flow key, per period.

``N/PERIOD`` (``50/s``, ``10/m``, ``1/200ms``, ``5/10s``) means: in any window of
PERIOD, at most N tasks start — counted over every worker and host, on the
store's clock. The store keeps each limited bucket's recent starts (a sliding
window log: exact, with no burst above N; N starts may come at once when the
bucket has been idle) and admits a task in :meth:`~xqueue_core.interfaces.Store.claim`
in the same atomic step as the start. A task held back by a rate waits in the
store (parked, like a task over a concurrency limit); the store's wake-ups
reserve it the moment at which the window frees and make it due then.

A rate applies to a type (``key=None``), to every key of a type as a default
(``key="*"``), or to one key (its own wins over the default); a task with a key
must pass both its type's rate and its key's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import ValidationError
from .flow import DEFAULT_KEY, check_key

MAX_COUNT = 100_000  # the store keeps one entry per start in the window
MIN_PERIOD = 0.001
MAX_PERIOD = 7 * 86_400.0
TYPE_RATE = ""  # how rates() names a type's own rate (beside "*" and single keys)
WAKE_AHEAD = 0.2  # seconds of the window the store's wake-ups reserve ahead of time

RATE_PATTERN = r"^[1-9][0-9]*/([0-9]+(\.[0-9]+)?)?(ms|s|m|h|d)$"  # for JSON schemas
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_PERIOD = re.compile(r"(?P<n>\d+(?:\.\d+)?)?(?P<unit>[a-z]+)")


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` starts in any window of ``period`` seconds."""

    count: int
    period: float

    def __str__(self) -> str:
        return f"{self.count}/{period_text(self.period)}"


def period_text(seconds: float) -> str:
    """The shortest spelling of a period: ``s``, ``10s``, ``m``, ``200ms``."""
    for unit in ("d", "h", "m", "s", "ms"):
        n = seconds / _UNITS[unit]
        if n >= 1 and math.isclose(n, round(n), abs_tol=1e-9):
            n = round(n)
            return unit if n == 1 else f"{n}{unit}"
    return f"{seconds:g}s"


def parse_rate(text: object) -> Rate:
    """``"50/s"`` → ``Rate(50, 1.0)``; a Rate is returned as it is (checked).

    Periods: ``ms``, ``s``, ``m``, ``h``, ``d``, optionally with a number
    (``10s``, ``1.5h``), from 1 ms to 7 days; N from 1 to 100,000.
    """
    if isinstance(text, Rate):
        return check_rate(text)
    if not isinstance(text, str):
        raise ValidationError(f"rate must be text like '50/s', got {text!r}")
    count_text, sep, period = text.strip().partition("/")
    if not sep:
        raise ValidationError(f"rate {text!r} must be N/PERIOD, like 50/s or 10/m")
    try:
        count = int(count_text.strip())
    except ValueError:
        raise ValidationError(
            f"rate {text!r}: {count_text.strip()!r} is not a whole number"
        ) from None
    match = _PERIOD.fullmatch(period.strip().lower())
    if match is None or match["unit"] not in _UNITS:
        raise ValidationError(
            f"rate {text!r}: unknown period {period.strip()!r}; use ms, s, m, h or d, "
            "optionally with a number (10s)"
        )
    return check_rate(Rate(count, float(match["n"] or 1) * _UNITS[match["unit"]]))


def check_rate(rate: Rate) -> Rate:
    if isinstance(rate.count, bool) or not isinstance(rate.count, int):
        raise ValidationError(f"rate count must be a whole number, got {rate.count!r}")
    if not 1 <= rate.count <= MAX_COUNT:
        raise ValidationError(f"rate count must be between 1 and {MAX_COUNT:,}, got {rate.count}")
    if not MIN_PERIOD <= rate.period <= MAX_PERIOD:
        raise ValidationError(
            f"rate period must be between 1ms and 7d, got {period_text(rate.period)}"
        )
    return rate


def rate_target(key: str | None, per_key: bool) -> str | None:
    """Which rate a change is for: None (the type), ``"*"`` (every key) or one key."""
    if key is not None and per_key:
        raise ValidationError("give either key or per_key, not both")
    if per_key:
        return DEFAULT_KEY
    return None if key is None else check_key(key)


def encode(rate: Rate) -> str:
    """How stores keep a rate: ``count/period-in-seconds``."""
    return f"{rate.count}/{rate.period!r}"


def decode(text: str) -> Rate:
    count, _, period = text.partition("/")
    return Rate(int(count), float(period))
