"""Rate limits through the Python API: parsing, changes, bad input changing nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from xqueue_core import ValidationError, XQueue
from xqueue_core.rates import Rate, parse_rate, period_text


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[XQueue]:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    app = XQueue("rates", broker=url, store=url)

    @app.task("render", key="tenant")
    async def render(payload: dict[str, object]) -> None: ...

    async with app:
        yield app


@pytest.mark.parametrize(
    ("text", "rate", "shown"),
    [
        ("50/s", Rate(50, 1.0), "50/s"),
        ("10/m", Rate(10, 60.0), "10/m"),
        (" 3 / H ", Rate(3, 3600.0), "3/h"),
        ("1000/d", Rate(1000, 86400.0), "1000/d"),
        ("1/200ms", Rate(1, 0.2), "1/200ms"),
        ("5/10s", Rate(5, 10.0), "5/10s"),
        ("7/1.5h", Rate(7, 5400.0), "7/90m"),
        ("1/7d", Rate(1, 604800.0), "1/7d"),
    ],
)
def test_rates_parse_and_print(text: str, rate: Rate, shown: str) -> None:
    assert parse_rate(text) == rate
    assert str(parse_rate(text)) == shown
    assert parse_rate(str(rate)) == rate  # what is shown reads back the same


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0/s", "rate count must be between 1 and 100,000, got 0"),
        ("-1/s", "rate count must be between 1 and 100,000, got -1"),
        ("100001/s", "rate count must be between 1 and 100,000"),
        ("5/fortnight", "unknown period 'fortnight'; use ms, s, m, h or d"),
        ("5/0s", "rate period must be between 1ms and 7d, got 0s"),
        ("5/8d", "rate period must be between 1ms and 7d, got 8d"),
        ("5", "rate '5' must be N/PERIOD, like 50/s or 10/m"),
        ("five/s", "'five' is not a whole number"),
        ("1.5/s", "'1.5' is not a whole number"),
        (50, "rate must be text like '50/s', got 50"),
    ],
)
def test_bad_rates_are_refused_in_one_line(text: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_rate(text)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_periods_print_in_their_largest_whole_unit() -> None:
    assert [period_text(p) for p in (1.0, 60.0, 90.0, 0.25, 7200.0)] == [
        "s",
        "m",
        "90s",
        "250ms",
        "2h",
    ]


async def test_rates_per_type_per_key_and_by_default_are_kept_apart(app: XQueue) -> None:
    await app.set_rate("render", "50/s")
    await app.set_rate("render", "5/10s", per_key=True)
    await app.set_rate("render", Rate(1, 0.2), key="acme")
    assert (await app.get_rates())["render"] == {
        "rate": "50/s",
        "per_key": "5/10s",
        "keys": {"acme": "1/200ms"},
    }
    await app.set_rate("render", None, key="acme")
    await app.set_rate("render", None)
    assert (await app.get_rates())["render"] == {"rate": None, "per_key": "5/10s", "keys": {}}


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (("render", "0/s"), {}, "rate count must be between 1 and 100,000, got 0"),
        (("render", "5/fortnight"), {"per_key": True}, "unknown period 'fortnight'"),
        (("render", "5/s"), {"key": 5}, "key must be a string of 1-200 characters, got 5"),
        (("render", "5/s"), {"key": "*"}, "key '*' is reserved"),
        (("render", "5/s"), {"key": "a", "per_key": True}, "give either key or per_key, not both"),
        (("nope", "5/s"), {}, "no worker has registered task type 'nope'"),
    ],
)
async def test_a_bad_rate_change_is_refused_and_changes_nothing(
    app: XQueue, args: tuple[str, str], options: dict[str, object], message: str
) -> None:
    await app.set_rate("render", "9/m")
    with pytest.raises(ValidationError) as info:
        await app.set_rate(*args, **options)  # type: ignore[arg-type]
    assert message in str(info.value) and "\n" not in str(info.value)
    assert (await app.get_rates())["render"] == {"rate": "9/m", "per_key": None, "keys": {}}
