"""Flow control: the flow key of a task and the limits of keys.

A type may name its **key** (``@app.task("render", key="tenant")``: a payload
field; the submit option ``key`` overrides it). Tasks of one key run at most
``limit(type, key)`` at a time — a default for every key of the type, or a
limit of one key's own — and never more than ``limit(type)`` in all. A task held
back waits in the store (parked) and is woken when a slot it may use frees;
wake-ups go round-robin over the keys (a key of weight w takes w tasks per turn),
within the highest priority band waiting, so a key with a large backlog never
delays one with a few tasks by more than a turn. The store makes each step
atomic (:meth:`~xqueue_core.interfaces.Store.claim`,
:meth:`~xqueue_core.interfaces.Store.set_key_limit`); this module checks what
users give it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ValidationError

MAX_KEY_LENGTH = 200
DEFAULT_KEY = "*"  # how key_limits() names the default of a type's keys


def check_key(value: object, what: str = "key") -> str:
    """A flow key: a non-empty string of at most 200 characters, not ``*``."""
    if not isinstance(value, str) or not value or len(value) > MAX_KEY_LENGTH:
        raise ValidationError(
            f"{what} must be a string of 1-{MAX_KEY_LENGTH} characters, got {value!r}"
        )
    if value == DEFAULT_KEY:
        raise ValidationError(f"{what} {DEFAULT_KEY!r} is reserved for the default of every key")
    return value


def check_key_field(task_type: str, name: object) -> str | None:
    """A handler's ``key`` option: the name of a payload field, or None."""
    if name is None:
        return None
    if not isinstance(name, str) or not name:
        raise ValidationError(f"handler {task_type!r}: key must name a payload field, got {name!r}")
    return name


def key_of(
    task_type: str, payload: Mapping[str, Any], field: str | None, given: str | None
) -> str | None:
    """The flow key of a new task: the submit's ``key``, else the payload's ``field``
    (a string, or an integer made text), else None (only the type's limit applies)."""
    if given is not None:
        return given
    if field is None or field not in payload:
        return None
    value = payload[field]
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return check_key(value, f"payload field {field!r} (the key of {task_type!r})")


def check_limit_target(key: str | None, per_key: bool) -> str | None:
    """Which limit a change is for: ``None`` with ``per_key`` is every key's default."""
    if key is not None and per_key:
        raise ValidationError("give either key or per_key, not both")
    return None if key is None else check_key(key)


MAX_WEIGHT = 1000


def check_weight(value: object) -> int | None:
    """A key's weight: a whole number 1-1000 (None: back to 1)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WEIGHT:
        raise ValidationError(f"weight must be a whole number 1-{MAX_WEIGHT}, got {value!r}")
    return value
