"""The soak's report of unfinished tasks reads a real Redis store and broker, whose
store streams (the event log, end notices) have no consumer group."""

from __future__ import annotations

import pytest

from soak.diagnosis import redis_state_of
from xqueue_core import XQueue
from xqueue_core.testing.services import ServiceProcess, redis_command


@pytest.mark.autoload_plugins  # as the soak's driver, which finds the Redis plugin installed
async def test_where_redis_holds_an_unfinished_task() -> None:
    with ServiceProcess("redis", redis_command()) as server:
        url = f"redis://127.0.0.1:{server.port}/0"  # the default prefix, as the soak's
        app = XQueue(broker=url, store=url, autoload_plugins=True)

        @app.task("job")
        async def job(payload: dict[str, int]) -> None:
            return None

        async with app:
            task = await app.submit("job", {"n": 1})  # no worker: it stays pending
            state = await redis_state_of(server.port, [task.id], {task.id: "at 0 s"})
    assert "error" not in state, state
    found = state[task.id]
    assert found["submitted"] == "at 0 s"
    assert found["record"]["status"] == "pending" and found["record"]["type"] == "job"
    # its message on the broker's stream; the event log (a stream without a group) too
    streams = {key: held for key, _, _, held in found["streams"]}
    assert any(held == {} for held in streams.values()), streams  # a store stream
    assert any(held for held in streams.values()), streams  # the broker's, with its group
