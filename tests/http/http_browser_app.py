"""The example app and one more type for the browser tests: ``gate`` runs until the
file named by its payload's ``flag`` exists (at most ``timeout`` seconds), so a test
decides when it ends instead of guessing how long the page takes to load."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from examples.app import app

__all__ = ["app"]


@app.task("gate", process_timeout=120)
async def gate(payload: dict[str, Any]) -> str:
    flag = Path(payload["flag"])
    give_up = time.monotonic() + float(payload.get("timeout", 60))
    while not await asyncio.to_thread(flag.exists):
        if time.monotonic() > give_up:
            raise TimeoutError(f"{flag} never appeared")
        await asyncio.sleep(0.05)
    return "opened"
