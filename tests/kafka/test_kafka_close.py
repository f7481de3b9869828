"""A Kafka client call that ignores cancellation cannot hold up the broker (no server)."""

from __future__ import annotations

import asyncio

from xqueue_kafka.broker import within


async def test_within_gives_up_on_a_call_that_ignores_cancellation() -> None:
    gate = asyncio.Event()

    async def stubborn() -> str:  # like a client close that swallows CancelledError
        while not gate.is_set():
            try:
                await gate.wait()
            except asyncio.CancelledError:
                pass
        return "closed"

    bounded = asyncio.create_task(within(stubborn(), 0.05))
    await asyncio.wait({bounded}, timeout=10)  # liveness bound, not a speed threshold
    gate.set()
    assert bounded.done(), "within() waited for a call that ignores cancellation"
    assert isinstance(bounded.exception(), TimeoutError)


async def test_within_returns_the_result_and_raises_the_error() -> None:
    async def answer() -> int:
        return 42

    async def broken() -> None:
        raise OSError("connection reset")

    assert await within(answer(), 1) == 42
    try:
        await within(broken(), 1)
    except OSError as exc:
        assert "reset" in str(exc)
    else:
        raise AssertionError("the error was swallowed")
