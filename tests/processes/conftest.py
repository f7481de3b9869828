"""Fixtures of the core's real-process tests (helpers live in core_helpers.py)."""

from tests.processes.core_helpers import client, keyed, redis_server, xenv

__all__ = ["client", "keyed", "redis_server", "xenv"]
