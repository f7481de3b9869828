"""Per-key limits through the Python API: the key of a task, limit changes, bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from xqueue_core import ValidationError, XQueue


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[XQueue]:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    app = XQueue("flow", broker=url, store=url)

    @app.task("render", key="tenant")
    async def render(payload: dict[str, object]) -> None: ...

    @app.task("plain")
    async def plain(payload: dict[str, object]) -> None: ...

    async with app:
        yield app


async def test_the_key_comes_from_the_payload_field_or_the_submit(app: XQueue) -> None:
    assert (await app.submit("render", {"tenant": "acme"})).key == "acme"
    assert (await app.submit("render", {"tenant": 42})).key == "42"  # an integer as text
    assert (await app.submit("render", {})).key is None  # no field: only the type's limit
    assert (await app.submit("render", {"tenant": "acme"}, key="vip")).key == "vip"
    assert (await app.submit("plain", {"tenant": "acme"})).key is None  # no key field
    assert (await app.submit("plain", {}, key="k")).key == "k"


@pytest.mark.parametrize(
    ("payload", "options", "message"),
    [
        ({"tenant": True}, {}, "payload field 'tenant' (the key of 'render') must be a string"),
        ({"tenant": ["a"]}, {}, "payload field 'tenant'"),
        ({"tenant": ""}, {}, "must be a string of 1-200 characters, got ''"),
        ({}, {"key": 5}, "key must be a string of 1-200 characters, got 5"),
        ({}, {"key": "x" * 201}, "key must be a string of 1-200 characters"),
        ({}, {"key": "*"}, "key '*' is reserved"),
    ],
)
async def test_a_bad_key_is_refused_and_nothing_is_stored(
    app: XQueue, payload: dict[str, object], options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await app.submit_many(
            [{"type": "plain", "payload": {}}, {"type": "render", "payload": payload, **options}]
        )
    assert message in str(info.value) and "\n" not in str(info.value)
    assert (await app.stats())["total"] == 0


async def test_limits_per_key_and_per_type_are_kept_apart(app: XQueue) -> None:
    await app.set_concurrency("render", 10)
    await app.set_concurrency("render", 2, per_key=True)
    await app.set_concurrency("render", 5, key="acme")
    shown = (await app.get_concurrency())["render"]
    assert shown == {
        "max_concurrency": 10,
        "running": 0,
        "per_key": 2,
        "keys": {"acme": 5},
        "weights": {},
        "paused": False,
    }
    await app.set_concurrency("render", None, key="acme")
    await app.set_concurrency("render", None, per_key=True)
    shown = (await app.get_concurrency())["render"]
    assert (shown["max_concurrency"], shown["per_key"], shown["keys"]) == (10, None, {})


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (("render", -1), {"per_key": True}, "max_concurrency must be between 0 and"),
        (("render", "x"), {"key": "a"}, "max_concurrency"),
        (("render", 1), {"key": 5}, "key must be a string"),
        (("render", 1), {"key": "*"}, "reserved"),
        (("render", 1), {"key": "a", "per_key": True}, "give either key or per_key, not both"),
        (("nope", 1), {"per_key": True}, "no worker has registered task type 'nope'"),
    ],
)
async def test_a_bad_limit_change_is_refused_and_changes_nothing(
    app: XQueue, args: tuple[object, ...], options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await app.set_concurrency(*args, **options)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert (await app.get_concurrency())["render"]["keys"] == {}
    assert (await app.get_concurrency())["render"]["per_key"] is None


async def test_key_usage_checks_its_arguments(app: XQueue) -> None:
    assert await app.key_usage("render") == []
    for top in (0, 1001, True, "5"):
        with pytest.raises(ValidationError, match="top must be between 1 and 1000"):
            await app.key_usage("render", top)  # type: ignore[arg-type]


def test_a_handler_key_must_name_a_payload_field() -> None:
    app = XQueue("bad")
    with pytest.raises(ValidationError, match="key must name a payload field, got 5"):
        app.task("render", key=5)(lambda payload: None)  # type: ignore[arg-type]


async def test_a_keys_weight_is_kept_and_bad_ones_change_nothing(app: XQueue) -> None:
    await app.set_key_weight("render", "vip", 4)
    assert (await app.get_concurrency())["render"]["weights"] == {"vip": 4}
    for weight, message in [(0, "weight must be a whole number 1-1000, got 0"),
                            (True, "got True"), (2.5, "got 2.5")]:  # fmt: skip
        with pytest.raises(ValidationError) as info:
            await app.set_key_weight("render", "vip", weight)  # type: ignore[arg-type]
        assert message in str(info.value)
    with pytest.raises(ValidationError, match="key '\\*' is reserved"):
        await app.set_key_weight("render", "*", 2)
    assert (await app.get_concurrency())["render"]["weights"] == {"vip": 4}
    await app.set_key_weight("render", "vip", None)
    assert (await app.get_concurrency())["render"]["weights"] == {}
