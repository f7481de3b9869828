"""The lean pipelined connection that carries script calls and blocking reads (opt-in:
``lane=true`` in the URL)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
import redis.asyncio as aioredis
from redis_services import url_for
from xqueue_redis import RedisStore
from xqueue_redis.lane import Lane, LaneError, pack

from xqueue_core.ids import new_id
from xqueue_core.models import Task
from xqueue_core.settings import Settings
from xqueue_core.testing.services import ServiceProcess

SETTINGS = Settings(publish_grace=0.0)


def test_pack_writes_resp_arrays_of_bulk_strings() -> None:
    assert pack(["SET", "k", 1.5, b"v\r\n", 7]) == (
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n1.5\r\n$3\r\nv\r\n\r\n$1\r\n7\r\n"
    )
    with pytest.raises(TypeError):
        pack(["SET", "k", True])


async def test_many_callers_share_the_lane_and_each_gets_its_own_reply(
    redis_server: ServiceProcess,
) -> None:
    lane = Lane("127.0.0.1", redis_server.port)
    try:
        values = [f"v{i}-{uuid.uuid4().hex}" for i in range(300)]
        replies = await asyncio.gather(*(lane.execute("ECHO", v) for v in values))
        assert replies == values
        key = f"lane:{uuid.uuid4().hex}"
        assert await lane.pipeline([["SET", key, "1"], ["INCRBY", key, 41], ["GET", key]]) == [
            "OK",
            42,
            "42",
        ]
    finally:
        await lane.close()


async def test_an_error_reply_raises_and_the_lane_goes_on(redis_server: ServiceProcess) -> None:
    lane = Lane("127.0.0.1", redis_server.port)
    try:
        with pytest.raises(LaneError, match="unknown command"):
            await lane.execute("NOSUCHCOMMAND", "x")
        assert await lane.execute("PING") == "PONG"
    finally:
        await lane.close()


async def test_a_reply_that_does_not_come_in_time_drops_the_connection(
    redis_server: ServiceProcess,
) -> None:
    lane = Lane("127.0.0.1", redis_server.port, timeout=0.2)
    try:
        with pytest.raises(TimeoutError):
            await lane.execute("BLPOP", f"lane:{uuid.uuid4().hex}", 2)  # blocks 2 s
        # a new connection: the late BLPOP reply cannot be taken for this PING's
        assert await lane.execute("PING") == "PONG"
        assert await lane.execute("BLPOP", f"lane:{uuid.uuid4().hex}", 1, blocks=2.0) is None
    finally:
        await lane.close()


async def test_auth_and_select_come_from_the_url(redis_server: ServiceProcess) -> None:
    user = f"u{uuid.uuid4().hex[:8]}"
    raw = aioredis.from_url(f"redis://127.0.0.1:{redis_server.port}/0", decode_responses=True)
    await raw.execute_command("ACL", "SETUSER", user, "on", ">s3cret", "~*", "&*", "+@all")
    prefix = f"db{uuid.uuid4().hex[:8]}"
    store = RedisStore(
        f"redis://{user}:s3cret@127.0.0.1:{redis_server.port}/3?prefix={prefix}&lane=true",
        SETTINGS,
    )
    await store.open()
    try:
        assert store.conn._lane is not None
        [(task, _)] = await store.create([Task(id=new_id(), type="t")], 10.0)  # a script
        assert (await store.get(task.id)) is not None
        db3 = aioredis.from_url(f"redis://127.0.0.1:{redis_server.port}/3", decode_responses=True)
        assert await db3.keys(f"{{{prefix}}}*")  # written to database 3, not 0
        assert not await raw.keys(f"{{{prefix}}}*")
        await db3.aclose()
    finally:
        await store.close()
        await raw.execute_command("ACL", "DELUSER", user)
        await raw.aclose()


async def test_script_calls_ride_out_a_redis_restart(durable_redis: ServiceProcess) -> None:
    store = RedisStore(url_for(durable_redis) + "&lane=true", SETTINGS)
    await store.open()
    try:
        [(task, _)] = await store.create([Task(id=new_id(), type="t")], 10.0)
        durable_redis.kill()
        restart = threading.Timer(0.5, durable_redis.start)
        restart.start()
        started = time.monotonic()
        got = await store.get(task.id)  # retried on a new connection until Redis is back
        restart.join()
        assert got is not None and got.id == task.id
        assert time.monotonic() - started >= 0.3  # it did wait for the restart
    finally:
        await store.close()


async def test_concurrent_blocking_reads_share_out_the_lane_and_read_the_same(
    redis_url: str,
) -> None:
    store = RedisStore(redis_url + "&lane=true", SETTINGS)
    await store.open()
    try:
        cursor = await store.event_cursor()
        reads = [asyncio.create_task(store.read_events(cursor, 10, 5.0)) for _ in range(3)]
        await asyncio.sleep(0.1)  # all three are blocked: one on the lane, two on redis-py
        [(task, _)] = await store.create([Task(id=new_id(), type="t")], 10.0)
        results = await asyncio.gather(*reads)
        assert [[(e.task_id, str(e.status)) for _, e in got] for got in results] == [
            [(task.id, "pending")]
        ] * 3
        assert len({tuple(position for position, _ in got) for got in results}) == 1
    finally:
        await store.close()


def test_the_lane_runs_on_uvloop(redis_server: ServiceProcess) -> None:
    """uvicorn serves the HTTP API on uvloop, whose transports are not asyncio's."""
    import uvloop  # installed with xqueue-http (uvicorn[standard])

    async def main() -> list[str]:
        lane = Lane("127.0.0.1", redis_server.port)
        try:
            return list(await asyncio.gather(*(lane.execute("ECHO", str(i)) for i in range(50))))
        finally:
            await lane.close()

    assert uvloop.run(main()) == [str(i) for i in range(50)]


async def test_a_redis_still_loading_its_data_is_waited_for(
    durable_redis: ServiceProcess,
) -> None:
    """A restarted Redis answers LOADING until its data is read back; like redis-py,
    the lane retries that instead of failing the call (a lost finish or claim)."""
    raw = aioredis.from_url(f"redis://127.0.0.1:{durable_redis.port}/0")
    fill = "for i = ARGV[1], ARGV[1] + 99999 do redis.call('SET', 'fill' .. i, ARGV[2]) end"
    for start in range(0, 600_000, 100_000):  # enough data for a loading phase to see
        await raw.eval(fill, 0, start, "x" * 64)
    await raw.bgrewriteaof()
    while (await raw.info("persistence"))["aof_rewrite_in_progress"]:
        await asyncio.sleep(0.05)
    await raw.aclose()
    store = RedisStore(url_for(durable_redis) + "&lane=true", SETTINGS)
    await store.open()
    try:
        [(task, _)] = await store.create([Task(id=new_id(), type="t")], 10.0)
        durable_redis.kill()
        durable_redis.start()  # returns once the port is open: loading has just begun
        probe = aioredis.from_url(f"redis://127.0.0.1:{durable_redis.port}/0")
        with pytest.raises(Exception, match="loading the dataset"):
            await probe.execute_command("GET", "fill1")  # the state the store meets
        await probe.aclose()
        got = await store.get(task.id)
        assert got is not None and got.id == task.id
    finally:
        await store.close()


async def test_the_lane_is_opt_in(redis_url: str) -> None:
    plain, lean = RedisStore(redis_url, SETTINGS), RedisStore(redis_url + "&lane=true", SETTINGS)
    await plain.open()
    await lean.open()
    try:
        assert plain.conn._lane is None and lean.conn._lane is not None
        [(task, _)] = await lean.create([Task(id=new_id(), type="t")], 10.0)
        assert (await plain.get(task.id)) == (await lean.get(task.id))
    finally:
        await plain.close()
        await lean.close()
