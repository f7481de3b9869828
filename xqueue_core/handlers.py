"""Task handlers: what ``@app.task`` and ``xqueue_register_handlers`` record."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .errors import ValidationError
from .flow import check_key_field

Executor = Literal["async", "thread", "process"]
TYPE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


def check_type_name(name: object) -> str:
    """Validate a task type name (1–128 chars of letters, digits, ``_ . : -``)."""
    if not isinstance(name, str) or not TYPE_NAME.fullmatch(name):
        raise ValidationError(
            f"task type {name!r} is invalid: use 1-128 letters, digits, '_', '.', ':' or '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """A registered handler and its defaults for tasks of its type."""

    type: str
    func: Callable[..., Any]
    executor: Executor
    takes_context: bool
    max_retry: int = 0
    queue_timeout: float = 0.0
    process_timeout: float = 0.0
    priority: int = 0
    retry_backoff: float | None = None
    source: str = "app"
    key: str | None = None  # the payload field holding a task's flow key

    def defaults(self) -> dict[str, Any]:
        """The defaults a submit takes for fields it leaves out (announced to the store)."""
        defaults: dict[str, Any] = {
            "max_retry": self.max_retry,
            "queue_timeout": self.queue_timeout,
            "process_timeout": self.process_timeout,
            "priority": self.priority,
        }
        if self.key is not None:
            defaults["key"] = self.key
        return defaults


def make_spec(
    task_type: str,
    func: Callable[..., Any],
    *,
    max_retry: int = 0,
    queue_timeout: float = 0.0,
    process_timeout: float = 0.0,
    priority: int = 0,
    executor: Executor | None = None,
    retry_backoff: float | None = None,
    source: str = "app",
    key: str | None = None,
) -> HandlerSpec:
    """Validate a handler's options and build its :class:`HandlerSpec`."""
    check_type_name(task_type)
    if not callable(func):
        raise ValidationError(f"handler for {task_type!r} is not callable: {func!r}")
    is_async = inspect.iscoroutinefunction(func)
    if executor is None:
        executor = "async" if is_async else "thread"
    if executor not in ("async", "thread", "process"):
        raise ValidationError(
            f"handler {task_type!r}: executor must be 'async', 'thread' or 'process', "
            f"got {executor!r}"
        )
    if executor == "async" and not is_async:
        raise ValidationError(f"handler {task_type!r}: executor 'async' needs an async function")
    if executor != "async" and is_async:
        raise ValidationError(
            f"handler {task_type!r}: an async function runs on the event loop; "
            f"executor {executor!r} is for plain functions"
        )
    for name, value in (
        ("max_retry", max_retry),
        ("queue_timeout", queue_timeout),
        ("process_timeout", process_timeout),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValidationError(f"handler {task_type!r}: {name} must be >= 0, got {value!r}")
    try:
        params = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
    except (TypeError, ValueError):
        params = []
    takes_context = len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)
    return HandlerSpec(
        type=task_type,
        func=func,
        executor=executor,
        takes_context=takes_context,
        max_retry=int(max_retry),
        queue_timeout=float(queue_timeout),
        process_timeout=float(process_timeout),
        priority=int(priority),
        retry_backoff=retry_backoff,
        source=source,
        key=check_key_field(task_type, key),
    )


class HandlerRegistrar(Protocol):
    """The ``register`` callable passed to ``xqueue_register_handlers``."""

    def __call__(self, task_type: str, func: Callable[..., Any], **options: Any) -> None: ...
