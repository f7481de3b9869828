"""An app whose store fails on purpose (``faulty:///path``), to test error answers.

- ``counts()`` always raises an unexpected error with a secret in its text;
- while the file named by ``$FAULTY_FLAG`` exists, ``ping()`` and ``list_tasks()``
  raise a BackendError (the store "is down");
- while ``$FAULTY_FLAG.slow`` exists, ``list_tasks()`` hangs for a minute.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xqueue_core import BackendError, BackendSpec, XQueue, hookimpl
from xqueue_core.settings import Settings
from xqueue_core.sqlite.store import SqliteStore

SECRET = "secret-internal-detail-7f3a"


class FaultyStore(SqliteStore):
    def __init__(self, url: str, settings: Settings) -> None:
        super().__init__(url.replace("faulty://", "sqlite://", 1), settings)
        self.url = url

    def _down(self) -> bool:
        flag = os.environ.get("FAULTY_FLAG")
        return bool(flag) and Path(flag).exists()

    def _slow(self) -> bool:
        flag = os.environ.get("FAULTY_FLAG")
        return bool(flag) and Path(f"{flag}.slow").exists()

    async def ping(self) -> None:
        if self._down():
            raise BackendError(f"store unreachable at {SECRET}")
        await super().ping()

    async def counts(self) -> dict[str, dict[str, int]]:
        raise RuntimeError(f"unexpected failure: {SECRET}")

    async def list_tasks(self, *args: Any, **kwargs: Any) -> Any:
        if self._slow():
            await asyncio.sleep(60)
        if self._down():
            raise BackendError(f"connection refused by {SECRET}")
        return await super().list_tasks(*args, **kwargs)


class FaultyPlugin:
    @hookimpl
    def xqueue_register_backends(self, register: Callable[[BackendSpec], None]) -> None:
        register(BackendSpec(role="store", schemes=("faulty",), factory=FaultyStore))


app = XQueue("faulty", plugins=[FaultyPlugin()])


@app.task("echo")
async def echo(payload: dict[str, Any]) -> dict[str, Any]:
    return payload
