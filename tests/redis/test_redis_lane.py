"""The lean pipelined connections ``redis://`` URLs talk over (``lane=false`` and
``rediss://`` use redis-py instead)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis.asyncio as aioredis
from xqueue_redis import RedisStore, parse_url
from xqueue_redis.lane import Lane, ReplyError, pack

from tests.redis.redis_services import url_for
from xqueue_core.errors import BackendError, SettingsError
from xqueue_core.ids import new_id
from xqueue_core.models import Task
from xqueue_core.settings import Settings
from xqueue_core.testing.services import ServiceProcess, eventually

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
        assert await lane.send([["SET", key, "1"], ["INCRBY", key, 41], ["GET", key]]) == [
            "OK",
            42,
            "42",
        ]
    finally:
        await lane.close()


async def test_an_error_reply_raises_and_the_lane_goes_on(redis_server: ServiceProcess) -> None:
    lane = Lane("127.0.0.1", redis_server.port)
    try:
        with pytest.raises(ReplyError, match="unknown command"):
            await lane.execute("NOSUCHCOMMAND", "x")
        assert await lane.execute("PING") == "PONG"
        first, refused, last = await lane.send([["PING"], ["NOSUCHCOMMAND"], ["ECHO", "x"]])
        assert (first, last) == ("PONG", "x")  # an error reply takes only its own place
        assert isinstance(refused, ReplyError) and "unknown command" in str(refused)
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
        f"redis://{user}:s3cret@127.0.0.1:{redis_server.port}/3?prefix={prefix}"
        "&client_name=xq-lane-test",
        SETTINGS,
    )
    await store.open()
    try:
        assert store.conn._lane is not None
        names = [c["name"] for c in await raw.client_list()]
        assert "xq-lane-test" in names
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
    store = RedisStore(url_for(durable_redis), SETTINGS)
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


async def blocked_clients(url: str, at_least: int | None = None) -> int | bool:
    """Clients Redis has blocked (in XREAD ... BLOCK); with ``at_least``: whether as many."""
    raw = aioredis.from_url(url.split("?")[0])
    try:
        count = int((await raw.info("clients"))["blocked_clients"])
    finally:
        await raw.aclose()
    return count if at_least is None else count >= at_least


async def test_concurrent_blocking_reads_each_get_a_lane_and_read_the_same(
    redis_url: str,
) -> None:
    store = RedisStore(redis_url, SETTINGS)
    await store.open()
    try:
        cursor = await store.event_cursor()
        before = await blocked_clients(redis_url)
        reads = [asyncio.create_task(store.read_events(cursor, 10, 5.0)) for _ in range(3)]
        await eventually(
            lambda: blocked_clients(redis_url, before + 3), 5, "three reads blocked in Redis"
        )
        assert len(store.conn._busy_blocking) == 3  # each on a lane of its own
        [(task, _)] = await store.create([Task(id=new_id(), type="t")], 10.0)
        results = await asyncio.gather(*reads)
        assert [[(e.task_id, str(e.status)) for _, e in got] for got in results] == [
            [(task.id, "pending")]
        ] * 3
        assert len({tuple(position for position, _ in got) for got in results}) == 1
        assert len(store.conn._idle_blocking) == 2  # kept for the next reads; one closed
    finally:
        await store.close()


async def test_a_cancelled_blocking_read_does_not_hold_up_the_next(redis_url: str) -> None:
    store = RedisStore(redis_url, SETTINGS)
    await store.open()
    try:
        cursor = await store.event_cursor()
        before = await blocked_clients(redis_url)
        read = asyncio.create_task(store.read_events(cursor, 10, 30.0))
        await eventually(lambda: blocked_clients(redis_url, before + 1), 5, "the read blocked")
        read.cancel()
        with pytest.raises(asyncio.CancelledError):
            await read
        # its lane still waits for the 30 s XREAD on the server: closed, not reused
        assert not store.conn._idle_blocking and not store.conn._busy_blocking
        next_read = asyncio.create_task(store.read_events(cursor, 10, 30.0))
        [(task, _)] = await store.create([Task(id=new_id(), type="t")], 10.0)
        got = await asyncio.wait_for(next_read, 20.0)  # well before the first read's 30 s
        assert [e.task_id for _, e in got] == [task.id]
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
    the lane retries that instead of failing the call (a lost finish or claim), and
    opening a store then waits instead of failing (a worker starting would exit)."""
    raw = aioredis.from_url(f"redis://127.0.0.1:{durable_redis.port}/0")
    fill = "for i = ARGV[1], ARGV[1] + 99999 do redis.call('SET', 'fill' .. i, ARGV[2]) end"
    for start in range(0, 600_000, 100_000):  # enough data for a loading phase to see
        await raw.eval(fill, 0, start, "x" * 64)
    await raw.bgrewriteaof()
    while (await raw.info("persistence"))["aof_rewrite_in_progress"]:
        await asyncio.sleep(0.05)
    await raw.aclose()
    store = RedisStore(url_for(durable_redis), SETTINGS)
    await store.open()
    try:
        [(task, _)] = await store.create([Task(id=new_id(), type="t")], 10.0)
        durable_redis.kill()
        durable_redis.start()  # returns once the port is open: loading has just begun
        probe = aioredis.from_url(f"redis://127.0.0.1:{durable_redis.port}/0")
        with pytest.raises(Exception, match="loading the dataset"):
            await probe.execute_command("GET", "fill1")  # the state the store meets
        await probe.aclose()
        # a worker starting now opens its store while Redis loads: it waits too
        late = [
            RedisStore(url_for(durable_redis) + option, SETTINGS) for option in ("", "&lane=false")
        ]
        await asyncio.gather(*(s.open() for s in late))
        got = await store.get(task.id)
        assert got is not None and got.id == task.id
        await asyncio.gather(*(s.close() for s in late))
    finally:
        await store.close()


async def test_lanes_are_the_default_and_lane_false_uses_redis_py(redis_url: str) -> None:
    lean, plain = RedisStore(redis_url, SETTINGS), RedisStore(redis_url + "&lane=false", SETTINGS)
    await plain.open()
    await lean.open()
    try:
        assert lean.conn._lane is not None and lean.conn._client is None
        assert plain.conn._lane is None and plain.conn._client is not None
        [(task, _)] = await lean.create([Task(id=new_id(), type="t")], 10.0)
        assert (await plain.get(task.id)) == (await lean.get(task.id))
        cursor = await plain.event_cursor()
        assert cursor == await lean.event_cursor()
        assert await plain.limits() == await lean.limits() == {}
    finally:
        await plain.close()
        await lean.close()


def test_options_only_redis_py_has_choose_it_and_cannot_be_asked_of_a_lane() -> None:
    assert parse_url("redis://h/0").lane
    assert not parse_url("redis://h/0?lane=off").lane
    assert not parse_url("rediss://h/0").lane
    assert not parse_url("redis://h/0?max_connections=5").lane
    for url, named in [
        ("rediss://h/0?lane=true", "TLS (rediss://)"),
        ("redis://h/0?lane=true&health_check_interval=5", "health_check_interval"),
    ]:
        with pytest.raises(
            SettingsError, match=re.escape(f"lane=true cannot be used with {named}")
        ):
            parse_url(url)
    with pytest.raises(SettingsError, match="ssl_ca_certs only apply to TLS: use rediss://"):
        parse_url("redis://h/0?ssl_ca_certs=/etc/ca.pem")  # a lane would ignore it
    with pytest.raises(SettingsError, match=r"'lane' .*: expected true or false, got 'maybe'"):
        parse_url("redis://h/0?lane=maybe")


def test_a_store_and_broker_on_lanes_never_import_redis_py(redis_url: str) -> None:
    """redis-py costs each process ~5 MB of memory: a worker on redis:// does without."""
    script = f"""
import asyncio, sys
from xqueue_core.models import Finish, FinishKind, Message, Task
from xqueue_core.settings import Settings
from xqueue_redis import RedisStore, parse_url
from xqueue_redis.broker import RedisBroker

async def main():
    settings = Settings(publish_grace=0.0)
    store, broker = RedisStore({redis_url!r}, settings), RedisBroker({redis_url!r}, settings)
    await store.open(); await broker.open()
    task = Task(id="t1", type="t")
    await store.create([task], 10.0)
    await broker.publish([Message(task.id, "t", 0)])
    [delivery] = await broker.fetch(1, 1.0)
    await store.claim([task.id], "w1", 30.0)
    await store.finish([Finish(task.id, "w1", FinishKind.SUCCESS)])
    await broker.ack([delivery])
    assert (await store.get(task.id)).status == "success"
    await store.read_events(await store.event_cursor(), 10, 0.05)
    await broker.stats(); await store.known_types(); await store.now()
    await store.close(); await broker.close()
    print(sorted(m for m in sys.modules if m == "redis" or m.startswith("redis.")))

asyncio.run(main())
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


async def test_closing_ends_a_blocking_read_in_progress_without_reconnecting(
    redis_url: str,
) -> None:
    store = RedisStore(redis_url, SETTINGS)
    await store.open()
    raw = aioredis.from_url(redis_url.split("?")[0])
    try:
        cursor = await store.event_cursor()
        before = await blocked_clients(redis_url)
        read = asyncio.create_task(store.read_events(cursor, 10, 30.0))
        await eventually(lambda: blocked_clients(redis_url, before + 1), 5, "the read blocked")
        connections = int((await raw.info("stats"))["total_connections_received"])
        await store.close()
        with pytest.raises(BackendError, match="the backend is not open"):
            await asyncio.wait_for(read, 60.0)  # a guard against hanging, not a timing
        # the read ended with the close: it did not connect again to block anew
        assert int((await raw.info("stats"))["total_connections_received"]) == connections
    finally:
        await raw.aclose()
