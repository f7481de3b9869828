"""xqueue on Redis: the task store for ``redis://`` and ``rediss://`` URLs.

Install the distribution ``xqueue-redis`` and point the store at Redis::

    XQUEUE_STORE=redis://localhost:6379/0?prefix=myapp xqueue worker app:app
"""

from __future__ import annotations

from .keys import Keys
from .store import RedisStore
from .url import RedisSettings, parse_url

__all__ = ["Keys", "RedisSettings", "RedisStore", "parse_url"]
