"""When schedules tick: cron across DST in two zones, every, missed ticks (a fake clock)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from xqueue_core import ValidationError
from xqueue_core.schedules import (
    MAX_CATCH_UP,
    MISSED_AFTER,
    Schedule,
    check_schedule,
    next_tick,
    plan,
)


def at(zone: str, *parts: int) -> float:
    return datetime(*parts, tzinfo=ZoneInfo(zone)).timestamp()  # type: ignore[misc]


def fired_by_a_ticker(schedule: Schedule, start: float, end: float, step: float) -> list[float]:
    """Every tick fired by a ticker that looks every ``step`` seconds from start to end."""
    fired: list[float] = []
    next_at = next_tick(schedule, start)
    now = start
    while now <= end:
        p = plan(schedule, next_at, now)
        fired += p.fire
        next_at = p.next
        now += step
    return fired


def local(zone: str, ts: float) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


@pytest.mark.parametrize(
    ("zone", "cron", "day", "expected"),
    [
        # spring forward: 02:00 -> 03:00, so 02:30 does not exist: it runs once, at 03:00
        ("Europe/Berlin", "30 2 * * *", (2026, 3, 29), ["2026-03-29 03:00 CEST"]),
        ("America/New_York", "30 2 * * *", (2026, 3, 8), ["2026-03-08 03:00 EDT"]),
        # fall back: 02:30 (Berlin) and 01:30 (New York) happen twice: they run once
        ("Europe/Berlin", "30 2 * * *", (2026, 10, 25), ["2026-10-25 02:30 CEST"]),
        ("America/New_York", "30 1 * * *", (2026, 11, 1), ["2026-11-01 01:30 EDT"]),
        # an hourly job: 23 runs on the spring-forward day; 24 on the fall-back day (cron
        # goes by the wall clock: the repeated hour's times run once)
        ("Europe/Berlin", "0 * * * *", (2026, 10, 25), 24),
        ("America/New_York", "0 * * * *", (2026, 3, 8), 23),
    ],
)
def test_cron_ticks_once_per_local_time_across_dst(
    zone: str, cron: str, day: tuple[int, int, int], expected: list[str] | int
) -> None:
    schedule = check_schedule({"name": "n", "type": "t", "cron": cron, "tz": zone})
    start, end = at(zone, *day, 0, 0) - 1, at(zone, *day, 23, 59, 59)
    fired = fired_by_a_ticker(schedule, start, end, 30.0)
    if isinstance(expected, int):
        assert len(fired) == expected == len(set(fired))
    else:
        assert [local(zone, t) for t in fired] == expected


def test_six_fields_put_the_seconds_first() -> None:
    schedule = check_schedule({"name": "n", "type": "t", "cron": "*/15 * * * * *"})
    start = at("UTC", 2026, 1, 1, 0, 0)
    assert next_tick(schedule, start) == start + 15
    assert next_tick(schedule, start + 15) == start + 30


def test_every_ticks_on_multiples_of_its_seconds_since_the_epoch() -> None:
    schedule = check_schedule({"name": "n", "type": "t", "every": 3600})
    assert next_tick(schedule, at("UTC", 2026, 1, 1, 10, 20)) == at("UTC", 2026, 1, 1, 11, 0)
    assert next_tick(schedule, at("UTC", 2026, 1, 1, 11, 0)) == at("UTC", 2026, 1, 1, 12, 0)
    every_second = check_schedule({"name": "s", "type": "t", "every": 1})
    fired = fired_by_a_ticker(every_second, 1000.2, 1030.2, 0.5)  # a ticker twice a second
    assert fired == [float(t) for t in range(1001, 1031)]  # each tick once, none missing


@pytest.mark.parametrize(
    ("catch_up", "late_fired"), [("skip", 0), ("one", 1), ("all", MAX_CATCH_UP - 5)]
)
def test_ticks_missed_while_every_worker_was_down(catch_up: str, late_fired: int) -> None:
    """Every worker down for an hour of an every-second schedule; the first look after
    finds 3600 missed ticks and the 5 since then, which are on time."""
    schedule = check_schedule({"name": "n", "type": "t", "every": 1, "catch_up": catch_up})
    next_at = 10_000.0
    now = next_at + 3600 + MISSED_AFTER - 0.5
    p = plan(schedule, next_at, now)
    late = [t for t in p.fire if now - t > MISSED_AFTER]
    on_time = [t for t in p.fire if now - t <= MISSED_AFTER]
    assert len(late) == late_fired and len(on_time) == 5  # on time: fired whatever the policy
    assert p.fire == sorted(set(p.fire)) and p.missed == 3605 - len(p.fire)
    if catch_up == "one":
        assert late == [next_at + 3599]  # the latest missed tick
    assert p.next == next_tick(schedule, now) > now


def test_ticks_on_time_always_fire_and_a_missed_hourly_tick_fires_once() -> None:
    hourly = check_schedule({"name": "h", "type": "t", "cron": "0 * * * *", "catch_up": "skip"})
    tick = at("UTC", 2026, 1, 1, 3, 0)
    assert plan(hourly, tick, tick + 0.4).fire == [tick]  # on time: fires whatever the policy
    assert plan(hourly, tick, tick + 600).fire == []  # missed, skip
    one = hourly.with_changes(catch_up="one")
    assert plan(one, tick, tick + 3600 * 5 + 60).fire == [tick + 3600 * 5]  # 6 missed, one fires
    assert plan(one, tick, tick - 1).fire == []  # not due yet


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cron": "61 * * * *"}, "cron '61 * * * *' does not parse: Bad minute"),
        ({"cron": "* * *"}, "does not parse: Wrong number of fields"),
        ({"cron": "0 0 30 2 *"}, "does not parse: Bad day-of-month"),  # February 30th
        ({"cron": "0 3 * * *", "tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"every": 0}, "every must be at least 0.5 s"),
        ({"every": -5}, "every must be at least 0.5 s"),
        ({"every": "5"}, "every must be a number of seconds"),
        ({}, "a schedule needs either cron or every"),
        ({"cron": "* * * * *", "every": 5}, "a schedule needs either cron or every"),
        ({"every": 5, "catch_up": "some"}, "catch_up must be one of skip, one, all"),
        ({"every": 5, "overlap": "queue"}, "overlap must be one of allow, skip"),
        ({"every": 5, "jitter": -1}, "jitter must be 0-86400 seconds"),
        ({"every": 5, "options": {"delay": 3}}, "unknown task option(s) delay"),
        ({"every": 5, "name": "bad name"}, "schedule name must be"),
        ({"every": 5, "colour": "red"}, "unknown schedule field(s) colour"),
    ],
)
def test_bad_schedules_get_one_line_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_schedule({"name": "nightly", "type": "report", **data})
    assert message in str(info.value) and "\n" not in str(info.value)
