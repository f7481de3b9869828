"""Helpers the peer modules share (imported in the peers' virtualenvs only)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def worker_env(args: Any, **extra: str) -> dict[str, str]:
    """The environment of a peer's worker processes: its app module is importable."""
    return {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "BENCH_REDIS_URL": args.redis_url,
        "BENCH_LOG_DIR": args.workdir,
        **extra,
    }


def flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushall()
