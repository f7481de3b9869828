"""Retry delays: exponential backoff with full jitter."""

from __future__ import annotations

import random


def retry_delay(attempt: int, base: float, cap: float, jitter: bool = True) -> float:
    """Delay before retry number ``attempt`` (1 for the first retry).

    ``base * 2**(attempt-1)``, capped at ``cap``; with ``jitter`` a uniform
    random value between half of that and all of it, so retries of many tasks
    that failed together spread out instead of returning in a wave.
    """
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    if jitter:
        delay = random.uniform(delay / 2, delay)
    return delay
