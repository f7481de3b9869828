"""Debounce through the Python API: merging, bad input refused with nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from xqueue_core import ValidationError, XQueue


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[XQueue]:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    app = XQueue("debounce", broker=url, store=url)

    @app.task("reindex", key="doc")
    async def reindex(payload: dict[str, object]) -> None: ...

    @app.task("plain")
    async def plain(payload: dict[str, object]) -> None: ...

    async with app:
        yield app


async def test_submits_of_a_key_collapse_and_the_last_payload_wins(app: XQueue) -> None:
    first = await app.submit("reindex", {"doc": "d1", "n": 1}, debounce=30)
    again = await app.submit("reindex", {"doc": "d1", "n": 2}, debounce=30)
    other = await app.submit("reindex", {"doc": "d2", "n": 1}, debounce=30)
    assert again.id == first.id and other.id != first.id
    assert (await app.get(first.id)).payload == {"doc": "d1", "n": 2}
    assert first.eta is not None and first.eta > first.created_at + 29
    assert (await app.stats())["total"] == 2


async def test_a_batch_mixes_debounced_and_plain_tasks_in_order(app: XQueue) -> None:
    tasks = await app.submit_many(
        [
            {"type": "plain", "payload": {"n": 0}},
            {"type": "reindex", "payload": {"doc": "d", "n": 1}, "debounce": 30},
            {"type": "plain", "payload": {"n": 2}},
            {"type": "reindex", "payload": {"doc": "d", "n": 3}, "debounce": 30},
        ]
    )
    assert [t.type for t in tasks] == ["plain", "reindex", "plain", "reindex"]
    assert tasks[1].id == tasks[3].id and tasks[0].id != tasks[2].id
    assert (await app.get(tasks[1].id)).payload == {"doc": "d", "n": 3}
    assert tasks[0].eta is None  # the plain ones are published at once


@pytest.mark.parametrize(
    ("task_type", "payload", "options", "message"),
    [
        ("plain", {}, {"debounce": 5}, "debounce needs a flow key"),
        ("reindex", {}, {"debounce": 5}, "debounce needs a flow key"),
        ("reindex", {"doc": "d"}, {"debounce": 0}, "debounce must be more than 0"),
        ("reindex", {"doc": "d"}, {"debounce": -1}, "debounce must not be negative"),
        ("reindex", {"doc": "d"}, {"debounce": 10**7}, "at most 604800 s"),
        ("reindex", {"doc": "d"}, {"debounce": "soon"}, "debounce must be a number"),
        ("reindex", {"doc": "d"}, {"debounce_max": 5}, "debounce_max needs debounce"),
        (
            "reindex",
            {"doc": "d"},
            {"debounce": 5, "debounce_max": 0},
            "debounce_max must be more than 0 and at most 604800 s, got 0",
        ),
        ("reindex", {"doc": "d"}, {"debounce": 5, "delay": 1}, "give either debounce or delay"),
        (
            "reindex",
            {"doc": "d"},
            {"debounce": 5, "idempotency_key": "x"},
            "give either debounce or idempotency_key",
        ),
    ],
)
async def test_bad_debounce_is_refused_and_nothing_is_stored(
    app: XQueue,
    task_type: str,
    payload: dict[str, object],
    options: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(ValidationError) as info:
        await app.submit_many(
            [{"type": "plain", "payload": {}}, {"type": task_type, "payload": payload, **options}]
        )
    assert message in str(info.value) and "\n" not in str(info.value)
    assert (await app.stats())["total"] == 0
