"""Periodic schedules (DESIGN §7.1): what a schedule is, and which ticks fire when.

A schedule submits a task of its type on every **tick**: by ``cron`` (5 fields,
or 6 with seconds first, in the schedule's IANA time zone ``tz``; parsed and
iterated by `cronsim <https://pypi.org/project/cronsim/>`_, Debian cron's rules:
a time skipped by a spring-forward change fires once right after it, a time
repeated by a fall-back change fires once) or ``every`` N seconds (ticks at the
multiples of N since the epoch, so ``every=3600`` ticks on the hour, UTC).

There is no beat process: every worker (and ``xqueue serve``) looks at the due
schedules twice a second, and a tick fires through one compare-and-set in the
store (:meth:`~xqueue_core.interfaces.ScheduleStore.fire_schedules`), so it fires exactly
once however many processes look. This module only computes: given the stored
next tick and the store's clock, :func:`plan` says which ticks to fire now and
which tick comes next.

**Missed ticks.** A tick more than :data:`MISSED_AFTER` seconds old when a ticker
looks (all workers were down) is *missed*; ticks on time always fire. Missed
ticks follow ``catch_up``: ``skip`` fires none, ``one`` (the default) fires one
task for all of them (``scheduled_for`` the latest), ``all`` fires each, at most
the latest :data:`MAX_CATCH_UP`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from cronsim import CronSim, CronSimError

from .errors import ValidationError
from .handlers import check_type_name
from .models import iso

if TYPE_CHECKING:
    from .models import Task

CATCH_UP = ("skip", "one", "all")
OVERLAP = ("allow", "skip")
MAX_CATCH_UP = 100  # missed ticks catch_up="all" fires at most (the latest ones)
MISSED_AFTER = 5.0  # seconds: a tick older than this when a ticker looks was missed
MIN_EVERY = 0.5  # the ticker looks twice a second: closer ticks would fire in bunches
MAX_EVERY = 366 * 86_400.0
MAX_JITTER = 86_400.0
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
TASK_OPTIONS = ("priority", "max_retry", "queue_timeout", "process_timeout", "key")


@dataclass(frozen=True, slots=True)
class Schedule:
    """A periodic schedule's definition (its state lives in the store)."""

    name: str
    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    every: float | None = None
    tz: str = "UTC"
    catch_up: str = "one"
    overlap: str = "allow"
    jitter: float = 0.0
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)  # the fired tasks' submit options
    source: str = "runtime"  # "code": declared with app.schedule (a worker upserts it)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "payload": self.payload,
            "cron": self.cron,
            "every": self.every,
            "tz": self.tz,
            "catch_up": self.catch_up,
            "overlap": self.overlap,
            "jitter": self.jitter,
            "enabled": self.enabled,
            "options": self.options,
            "source": self.source,
        }

    def with_changes(self, **changes: Any) -> Schedule:
        """A copy with some fields changed, checked again."""
        return check_schedule({**self.to_dict(), **changes})


def check_schedule(data: Mapping[str, Any]) -> Schedule:
    """A schedule from a mapping (CLI, REST, Python keywords), or a one-line error."""
    allowed = set(Schedule.__dataclass_fields__)
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError(
            f"unknown schedule field(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    name = data.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValidationError(
            "schedule name must be 1-128 letters, digits or _ . : - (starting with a "
            f"letter or digit), got {name!r}"
        )
    task_type = check_type_name(data.get("type"))
    payload = data.get("payload") or {}
    if not isinstance(payload, dict):
        raise ValidationError(f"schedule payload must be a JSON object, got {payload!r}")
    cron, every = data.get("cron"), data.get("every")
    if (cron is None) == (every is None):
        raise ValidationError("a schedule needs either cron or every (not both)")
    tz = data.get("tz") or "UTC"
    zone = _zone(tz)
    if cron is not None:
        if not isinstance(cron, str):
            raise ValidationError(f"cron must be text like '0 3 * * *', got {cron!r}")
        cron = " ".join(cron.split())
        try:
            next(CronSim(cron, datetime.now(zone)))
        except CronSimError as exc:
            raise ValidationError(f"cron {cron!r} does not parse: {exc}") from None
        except StopIteration:  # cronsim looks 50 years ahead
            raise ValidationError(f"cron {cron!r} never fires in the next 50 years") from None
    if every is not None:
        if isinstance(every, bool) or not isinstance(every, int | float) or math.isnan(every):
            raise ValidationError(f"every must be a number of seconds, got {every!r}")
        every = float(every)
        if not MIN_EVERY <= every <= MAX_EVERY:
            raise ValidationError(
                f"every must be at least {MIN_EVERY:g} s and at most a year, got {every:g}"
            )
    catch_up = data.get("catch_up") or "one"
    if catch_up not in CATCH_UP:
        raise ValidationError(f"catch_up must be one of {', '.join(CATCH_UP)}, got {catch_up!r}")
    overlap = data.get("overlap") or "allow"
    if overlap not in OVERLAP:
        raise ValidationError(f"overlap must be one of {', '.join(OVERLAP)}, got {overlap!r}")
    jitter = data.get("jitter") or 0.0
    if (
        isinstance(jitter, bool)
        or not isinstance(jitter, int | float)
        or not (0 <= jitter <= MAX_JITTER)
    ):
        raise ValidationError(f"jitter must be 0-86400 seconds, got {jitter!r}")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValidationError(f"enabled must be true or false, got {enabled!r}")
    options = dict(data.get("options") or {})
    extra = set(options) - set(TASK_OPTIONS)
    if extra:
        raise ValidationError(
            f"unknown task option(s) {', '.join(sorted(extra))}; allowed: {', '.join(TASK_OPTIONS)}"
        )
    source = data.get("source") or "runtime"
    if source not in ("runtime", "code"):
        raise ValidationError(f"source must be runtime or code, got {source!r}")
    return Schedule(
        name=name,
        type=task_type,
        payload=payload,
        cron=cron,
        every=every,
        tz=tz,
        catch_up=catch_up,
        overlap=overlap,
        jitter=float(jitter),
        enabled=enabled,
        options=options,
        source=source,
    )


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str):
        raise ValidationError(f"tz must be an IANA time zone like Europe/Berlin, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"unknown time zone {name!r}; use an IANA name like UTC or Europe/Berlin"
        ) from None


def next_tick(schedule: Schedule, after: float) -> float:
    """The first tick strictly after ``after`` (epoch seconds)."""
    if schedule.every is not None:
        return (math.floor(after / schedule.every) + 1) * schedule.every
    assert schedule.cron is not None
    zone = ZoneInfo(schedule.tz)
    return next(CronSim(schedule.cron, datetime.fromtimestamp(after, zone))).timestamp()


def ticks_between(schedule: Schedule, first: float, now: float, most: int) -> list[float]:
    """The ticks in ``[first, now]`` (``first`` is one), the latest ``most`` of them,
    oldest first; without walking every tick of a long outage."""
    if first > now:
        return []
    if schedule.every is not None:
        step = schedule.every
        last = first + math.floor((now - first) / step + 1e-9) * step
        count = min(most, round((last - first) / step) + 1)
        return [last - i * step for i in range(count)][::-1]
    assert schedule.cron is not None
    zone = ZoneInfo(schedule.tz)
    start = datetime.fromtimestamp(now, zone) + timedelta(microseconds=1)
    out: list[float] = []
    for moment in CronSim(schedule.cron, start, reverse=True):
        at = moment.timestamp()
        if at < first or len(out) >= most:
            break
        out.append(at)
    return sorted(set(out))


@dataclass(frozen=True, slots=True)
class Plan:
    """What a ticker does with a due schedule: fire these ticks, then wait for ``next``."""

    fire: list[float]
    next: float
    missed: int  # ticks not fired by the catch-up policy


def plan(schedule: Schedule, next_at: float, now: float) -> Plan:
    """Which ticks fire when a ticker finds ``next_at`` due at store time ``now``."""
    if next_at > now:
        return Plan([], next_at, 0)
    due = ticks_between(schedule, next_at, now, MAX_CATCH_UP + 1000)
    on_time = [t for t in due if now - t <= MISSED_AFTER]
    late = [t for t in due if now - t > MISSED_AFTER]
    if schedule.catch_up == "all":
        fire = (late + on_time)[-MAX_CATCH_UP:]
    elif schedule.catch_up == "one":
        fire = late[-1:] + on_time
    else:
        fire = on_time
    total = len(due)
    if schedule.every is not None:  # the list is capped: count them instead
        total = int((now - next_at) // schedule.every + 1e-9) + 1
    return Plan(fire, next_tick(schedule, now), total - len(fire))


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """A schedule as the store keeps it: its definition and where its ticks are."""

    schedule: Schedule
    next_at: float  # the next tick to fire (epoch seconds, the store's clock)
    last_run: float | None = None  # the latest tick fired
    last_task_id: str | None = None  # the task it fired
    code_hash: str | None = None  # the code declaration the definition came from

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.schedule.to_dict(),
            "next_run": iso(self.next_at) if self.schedule.enabled else None,
            "last_run": iso(self.last_run),
            "last_task_id": self.last_task_id,
        }


@dataclass(frozen=True, slots=True)
class TickFire:
    """One schedule's due ticks, for :meth:`~xqueue_core.interfaces.ScheduleStore.fire_schedules`:
    fire ``tasks`` (one per tick) if the schedule's next tick is still ``expected_next``,
    and move it to ``new_next``."""

    name: str
    expected_next: float
    new_next: float
    tasks: Sequence[Task]


def declared(schedule: Schedule) -> Schedule:
    """A schedule as an app declares it in code."""
    return replace(schedule, source="code")


def code_hash(schedule: Schedule) -> str:
    """What identifies a code declaration (its definition, not its enabled state): a
    worker's upsert replaces the stored copy only when this changes."""
    data = {k: v for k, v in schedule.to_dict().items() if k != "enabled"}
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def timing(schedule: Schedule) -> str:
    """What decides a schedule's ticks (``cron``, ``every``, ``tz``): stores let an
    upsert move the next tick back only when this changed."""
    return f"{schedule.cron}|{schedule.every!r}|{schedule.tz}"


def encode(schedule: Schedule) -> str:
    return orjson.dumps(schedule.to_dict()).decode()


def decode(text: str) -> Schedule:
    return Schedule(**orjson.loads(text))
