"""BrokerContract: what every broker must do."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ...ids import new_id
from ...interfaces import Broker
from ...models import (
    Message,
)
from .common import contract_settings, open_backend


class BrokerContract:
    """What every broker must do. Provide a ``broker_url`` fixture (fresh per test)."""

    settings = contract_settings()
    autoload_plugins = True
    plugins: tuple[object, ...] = ()

    @pytest.fixture
    async def make_broker(self, broker_url: str) -> AsyncIterator[Callable[..., Any]]:
        opened: list[Broker] = []

        async def make(**changes: Any) -> Broker:
            settings = contract_settings(**changes) if changes else self.settings
            broker: Broker = await open_backend(
                "broker", broker_url, settings, self.autoload_plugins, self.plugins
            )
            opened.append(broker)
            return broker

        try:
            yield make
        finally:
            for broker in opened:
                await broker.close()

    async def _drain(self, broker: Broker, want: int, timeout: float = 15.0) -> list[Any]:
        got: list[Any] = []
        give_up = time.monotonic() + timeout
        while len(got) < want and time.monotonic() < give_up:
            got += await broker.fetch(want - len(got), 0.5)
        return got

    async def test_publish_fetch_ack(self, make_broker: Callable[..., Any]) -> None:
        broker = await make_broker()
        messages = [Message(new_id(), "t", 0) for _ in range(5)]
        await broker.publish(messages)
        got = await self._drain(broker, 5)
        assert sorted(d.message.task_id for d in got) == sorted(m.task_id for m in messages)
        await broker.ack(got)
        assert await broker.fetch(10, 0.5) == []

    async def test_fetch_waits_then_returns_empty(self, make_broker: Callable[..., Any]) -> None:
        broker = await make_broker()
        started = time.monotonic()
        assert await broker.fetch(10, 0.3) == []
        assert time.monotonic() - started >= 0.25

    async def test_fetch_respects_max(self, make_broker: Callable[..., Any]) -> None:
        broker = await make_broker()
        await broker.publish([Message(new_id(), "t", 0) for _ in range(10)])
        got = await self._drain(broker, 3)
        assert len(got) == 3
        rest = await self._drain(broker, 7)
        assert len(rest) == 7
        await broker.ack(got + rest)

    async def test_higher_priority_first_with_a_backlog(
        self, make_broker: Callable[..., Any]
    ) -> None:
        broker = await make_broker(priority_fairness=1000)
        low = [Message(new_id(), "t", 0) for _ in range(10)]
        high = [Message(new_id(), "t", 10) for _ in range(10)]
        await broker.publish(low)
        await broker.publish(high)
        first = await self._drain(broker, 10)
        assert sum(d.message.priority == 10 for d in first) >= 8
        await broker.ack(first + await self._drain(broker, 10))

    async def test_low_priority_is_not_starved(self, make_broker: Callable[..., Any]) -> None:
        broker = await make_broker(priority_fairness=5)
        low = Message(new_id(), "t", -5)
        await broker.publish([low])
        seen_low = False
        for _ in range(40):
            await broker.publish([Message(new_id(), "t", 10) for _ in range(2)])
            got = await broker.fetch(1, 1.0)
            await broker.ack(got)
            if any(d.message.task_id == low.task_id for d in got):
                seen_low = True
                break
        assert seen_low, "a low-priority message waited through 40 fetches"

    async def test_unacked_message_is_delivered_again(
        self, make_broker: Callable[..., Any]
    ) -> None:
        first = await make_broker(lease_ttl=0.5, heartbeat_interval=0.1)
        message = Message(new_id(), "t", 0)
        await first.publish([message])
        got = await self._drain(first, 1)
        assert [d.message.task_id for d in got] == [message.task_id]
        await first.close()  # died without acknowledging
        second = await make_broker(lease_ttl=0.5, heartbeat_interval=0.1)
        again = await self._drain(second, 1, timeout=30)
        assert [d.message.task_id for d in again] == [message.task_id]
        await second.ack(again)

    async def test_stats_is_a_mapping(self, make_broker: Callable[..., Any]) -> None:
        broker = await make_broker()
        assert isinstance(await broker.stats(), dict)
