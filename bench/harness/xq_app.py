"""The xqueue app the benchmark workers run: ``xqueue worker xq_app:app``.

Backends come from ``XQUEUE_BROKER`` / ``XQUEUE_STORE`` (the harness sets them).
"""

from __future__ import annotations

import asyncio
from typing import Any

from xqueue_core import XQueue


def make_app(**options: Any) -> XQueue:
    """An app with the benchmark task types (``keyed``: a no-op whose flow key is the
    payload's ``tenant``, for bench/flow.py)."""
    app = XQueue("bench", **options)

    @app.task("noop")
    async def noop(payload: dict[str, Any]) -> None:
        return None

    @app.task("keyed", key="tenant")
    async def keyed(payload: dict[str, Any]) -> None:
        return None

    @app.task("echo")
    async def echo(payload: dict[str, Any]) -> int:
        return 1

    @app.task("sleep")
    async def sleep(payload: dict[str, Any]) -> None:
        await asyncio.sleep(0.01)

    return app


app = make_app()
