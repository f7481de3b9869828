"""Checks on what a caller submits; every failure names the field and the bad value."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import orjson

from .debounce import check_window
from .errors import PayloadTooLarge, ValidationError
from .flow import check_key
from .handlers import check_type_name
from .models import parse_iso
from .workflows import check_depends_on, check_on_parent_failure

PRIORITY_RANGE = (-1_000_000, 1_000_000)
MAX_RETRY_LIMIT = 1000
MAX_KEY_LENGTH = 256
MAX_DELAY = 10 * 366 * 24 * 3600.0  # ten years
MAX_ETA = 253402300799.0  # 9999-12-31T23:59:59Z: later times cannot be shown as ISO 8601
MAX_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    """A validated submit: what :meth:`XQueue.submit` turns into a task."""

    type: str
    payload: dict[str, Any]
    priority: int | None = None
    max_retry: int | None = None
    queue_timeout: float | None = None
    process_timeout: float | None = None
    delay: float | None = None
    eta: float | None = None
    idempotency_key: str | None = None
    key: str | None = None  # the flow key (see xqueue_core.flow); else the handler's field
    debounce: float | None = None  # seconds (see xqueue_core.debounce)
    debounce_max: float | None = None
    depends_on: tuple[str, ...] | None = None  # parent ids (see xqueue_core.workflows)
    on_parent_failure: str | None = None  # "cancel" (default with parents) or "run"


SUBMIT_FIELDS = frozenset(f.name for f in fields(SubmitRequest))
"""The fields a submit may give: ``type``, ``payload`` and the :data:`SUBMIT_OPTIONS`."""
SUBMIT_OPTIONS = tuple(f.name for f in fields(SubmitRequest) if f.name not in ("type", "payload"))
"""The optional fields of a submit, in order (``priority``, ..., ``idempotency_key``)."""


def _number(name: str, value: Any, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "a whole number" if integer else "a number of seconds"
        raise ValidationError(f"{name} must be {kind}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{name} must be finite, got {value!r}")
    if integer and isinstance(value, float) and not value.is_integer():
        raise ValidationError(f"{name} must be a whole number, got {value!r}")
    return value


def check_time(name: str, value: Any) -> float | None:
    """A point in time given as an ISO 8601 string or epoch seconds, between 1970 and
    9999 (None stays None): epoch seconds, or a one-line :class:`ValidationError`."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            when = parse_iso(value)
        except ValueError:
            raise ValidationError(
                f"{name} must be an ISO 8601 time like 2026-01-31T12:00:00Z, got {value!r}"
            ) from None
    else:
        when = float(_number(name, value))
    if not 0 <= when <= MAX_ETA:
        raise ValidationError(f"{name} must be between 1970-01-01 and 9999-12-31, got {value!r}")
    return when


def _non_negative(name: str, value: Any) -> float | None:
    if value is None:
        return None
    number = float(_number(name, value))
    if number < 0:
        raise ValidationError(f"{name} must not be negative, got {value!r}")
    return number


def check_payload(payload: Any, max_bytes: int) -> dict[str, Any]:
    """A payload is a JSON object of at most ``max_bytes`` once encoded."""
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise ValidationError(f"payload must be a JSON object, got {type(payload).__name__}")
    try:
        encoded = orjson.dumps(payload)
    except TypeError as exc:
        raise ValidationError(f"payload is not JSON-serializable: {exc}") from None
    if len(encoded) > max_bytes:
        raise PayloadTooLarge(
            f"payload is {len(encoded)} bytes; the limit is {max_bytes} (max_payload_bytes)"
        )
    return dict(payload)


def check_idempotency_key(value: Any) -> str | None:
    """An ``idempotency_key`` (of a task or a workflow): 1 to :data:`MAX_KEY_LENGTH`
    characters."""
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= MAX_KEY_LENGTH):
        raise ValidationError(
            f"idempotency_key must be a string of 1-{MAX_KEY_LENGTH} characters, got {value!r}"
        )
    return value


def check_submit(data: Mapping[str, Any], max_payload_bytes: int) -> SubmitRequest:
    """Validate a submit given as a mapping (REST body, CLI, Python keywords)."""
    unknown = set(data) - SUBMIT_FIELDS
    if unknown:
        raise ValidationError(
            f"unknown field(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(SUBMIT_FIELDS))}"
        )
    if "type" not in data:
        raise ValidationError("field 'type' is required")
    task_type = check_type_name(data["type"])
    payload = check_payload(data.get("payload"), max_payload_bytes)
    priority = data.get("priority")
    if priority is not None:
        priority = int(_number("priority", priority, integer=True))
        low, high = PRIORITY_RANGE
        if not low <= priority <= high:
            raise ValidationError(f"priority must be between {low} and {high}, got {priority}")
    max_retry = data.get("max_retry")
    if max_retry is not None:
        max_retry = int(_number("max_retry", max_retry, integer=True))
        if not 0 <= max_retry <= MAX_RETRY_LIMIT:
            raise ValidationError(
                f"max_retry must be between 0 and {MAX_RETRY_LIMIT}, got {max_retry}"
            )
    delay = _non_negative("delay", data.get("delay"))
    if delay is not None and delay > MAX_DELAY:
        raise ValidationError(f"delay must be at most {MAX_DELAY:.0f} seconds (ten years)")
    eta_raw = data.get("eta")
    if eta_raw is not None and delay is not None:
        raise ValidationError("give either delay or eta, not both")
    eta = check_time("eta", eta_raw)
    key = check_idempotency_key(data.get("idempotency_key"))
    debounce = _non_negative("debounce", data.get("debounce"))
    debounce_max = _non_negative("debounce_max", data.get("debounce_max"))
    check_window(debounce, debounce_max)
    depends_on = check_depends_on(data.get("depends_on"))
    on_parent_failure = check_on_parent_failure(data.get("on_parent_failure"), depends_on)
    if debounce is not None:
        others = (("delay", delay), ("eta", eta), ("idempotency_key", key))
        for other, given in (*others, ("depends_on", depends_on)):
            if given is not None:
                raise ValidationError(f"give either debounce or {other}, not both")
    return SubmitRequest(
        type=task_type,
        payload=payload,
        priority=priority,
        max_retry=max_retry,
        queue_timeout=_non_negative("queue_timeout", data.get("queue_timeout")),
        process_timeout=_non_negative("process_timeout", data.get("process_timeout")),
        delay=delay,
        eta=eta,
        idempotency_key=key,
        key=None if data.get("key") is None else check_key(data["key"]),
        debounce=debounce,
        debounce_max=debounce_max,
        depends_on=depends_on,
        on_parent_failure=on_parent_failure,
    )


def check_limit(value: Any) -> int:
    """A concurrency limit is a whole number >= 0 (0 pauses the type)."""
    number = int(_number("max_concurrency", value, integer=True))
    if not 0 <= number <= MAX_LIMIT:
        raise ValidationError(f"max_concurrency must be between 0 and {MAX_LIMIT}, got {value!r}")
    return number
