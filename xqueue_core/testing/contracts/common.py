"""Helpers shared by the contract suites."""

from __future__ import annotations

from typing import Any

from ...ids import new_id
from ...interfaces import Role
from ...models import (
    Task,
)
from ...plugins import Plugins
from ...settings import Settings

LEASE = 30.0


def contract_settings(**changes: Any) -> Settings:
    """Settings for contract tests: short publish grace, quick redeliveries."""
    base: dict[str, Any] = {
        "publish_grace": 0.3,
        "result_ttl": 3600.0,
        "lease_ttl": 2.0,
        "heartbeat_interval": 0.2,
    }
    base.update(changes)
    return Settings().replace(**base)


async def open_backend(
    role: Role,
    url: str,
    settings: Settings,
    autoload: bool = True,
    plugins: tuple[object, ...] = (),
) -> Any:
    """Build a backend through the factory its plugin registered, and open it.

    ``autoload=False`` looks only at the built-in backends and ``plugins``
    (plugin modules or objects registered explicitly, e.g. one not installed yet).
    """
    spec = Plugins(autoload=autoload, extra=plugins).backend_spec(role, url)
    backend = spec.factory(url, settings)
    await backend.open()
    return backend


def make_task(task_type: str = "t", **fields: Any) -> Task:
    return Task(id=new_id(), type=task_type, **fields)
