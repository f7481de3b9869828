"""RedisStore specifics: URLs, errors, auth, TLS, prefixes, keys, restarts, round trips."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import xqueue_redis.plugin
import xqueue_redis.store
from redis.crc import key_slot
from xqueue_redis import RedisStore, parse_url

from tests.redis.redis_services import url_for
from xqueue_core.errors import BackendError, SettingsError
from xqueue_core.ids import new_id
from xqueue_core.models import ClaimOutcome, Finish, FinishKind, Task, TaskStatus
from xqueue_core.plugins import Plugins
from xqueue_core.sections import redact_url
from xqueue_core.settings import Settings
from xqueue_core.testing.services import ServiceProcess, free_port, redis_command

SETTINGS = Settings(publish_grace=0.0)


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    s = RedisStore(redis_url, SETTINGS)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def _raw(server: ServiceProcess, **kw: Any) -> Any:
    return aioredis.from_url(f"redis://127.0.0.1:{server.port}/0", decode_responses=True, **kw)


async def _life(store: RedisStore, count: int) -> None:
    """Submit, publish, claim and finish ``count`` tasks the way the core does."""
    await store.now()
    tasks = [Task(id=new_id(), type="t") for _ in range(count)]
    await store.create(tasks, 10.0)
    await store.mark_queued([t.id for t in tasks])
    claims, _ = await store.claim([t.id for t in tasks], "w1", 30.0)
    assert {c.outcome for c in claims} == {ClaimOutcome.STARTED}
    applied, _ = await store.finish([Finish(t.id, "w1", FinishKind.SUCCESS) for t in tasks])
    assert all(applied)


def test_plugin_offers_the_store_for_both_schemes() -> None:
    plugins = Plugins(autoload=False, extra=[xqueue_redis.plugin])
    for url in ("redis://localhost:6379/0", "rediss://localhost:6380/1"):
        spec = plugins.backend_spec("store", url)
        assert spec.role == "store"
        assert isinstance(spec.factory(url, SETTINGS), RedisStore)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://", "missing host"),
        ("redis://h:99999/0", "invalid port"),
        ("redis://h/abc", "database must be a number"),
        ("redis://h/0?colour=red", "unknown redis setting 'colour'"),
        ("redis://h/0?prefix=a{b}", "'prefix' .*: must be 1-64 letters"),
        ("redis://h/0?socket_timeout=soon", "'socket_timeout' .*: expected a number"),
        ("redis://u:secret@h/0?retries=-1", "'retries' .*: must not be negative"),
        ("redis://h/0?lane=maybe", "'lane' .*: expected true or false, got 'maybe'"),
    ],
)
def test_bad_urls_are_one_line_errors(url: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        RedisStore(url, SETTINGS)
    assert "\n" not in str(info.value) and "secret" not in str(info.value)


def test_url_options_and_redaction() -> None:
    parsed = parse_url("rediss://app:s3cret@cache.local:6380/2?prefix=shop&socket_timeout=3")
    assert (parsed.prefix, parsed.socket_timeout, parsed.tls) == ("shop", 3.0, True)
    assert "prefix" not in parsed.connect_url and "s3cret" in parsed.connect_url
    assert parsed.redacted == "rediss://app:***@cache.local:6380/2?prefix=shop&socket_timeout=3"
    assert redact_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"


async def test_unreachable_redis_fails_at_open_naming_the_url() -> None:
    port = free_port()
    store = RedisStore(f"redis://app:s3cret@127.0.0.1:{port}/0", SETTINGS)
    with pytest.raises(BackendError) as info:
        await store.open()
    message = str(info.value)
    assert f"redis://app:***@127.0.0.1:{port}/0" in message and "s3cret" not in message


async def test_acl_user_and_password_from_the_url(redis_server: ServiceProcess) -> None:
    user = f"u{uuid.uuid4().hex[:8]}"
    raw = await _raw(redis_server)
    await raw.execute_command("ACL", "SETUSER", user, "on", ">s3cret", "~*", "&*", "+@all")
    try:
        good = RedisStore(f"redis://{user}:s3cret@127.0.0.1:{redis_server.port}/0", SETTINGS)
        await good.open()
        assert await good.now() > 0
        await good.close()
        bad = RedisStore(f"redis://{user}:wrong@127.0.0.1:{redis_server.port}/0", SETTINGS)
        with pytest.raises(BackendError) as info:
            await bad.open()
        assert "wrong" not in str(info.value) and user in str(info.value)
    finally:
        await raw.execute_command("ACL", "DELUSER", user)
        await raw.aclose()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_with_rediss(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files

    def command(port: int, workdir: Path) -> list[str]:
        return ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
                "--dir", str(workdir), "--save", "", "--appendonly", "no"]  # fmt: skip

    with ServiceProcess("redis-tls", command) as server:
        url = f"rediss://127.0.0.1:{server.port}/0?ssl_ca_certs={cert}"
        store = RedisStore(url, SETTINGS)
        await store.open()
        assert store.conn._lane is None  # the lean lane speaks plain TCP only
        try:
            await _life(store, 3)
            assert (await store.counts())["status"] == {"success": 3}
        finally:
            await store.close()


async def test_prefixes_keep_apps_apart_and_share_one_cluster_slot(
    redis_server: ServiceProcess,
) -> None:
    shop, blog = (url_for(redis_server, f"app{uuid.uuid4().hex[:8]}") for _ in range(2))
    one, two = RedisStore(shop, SETTINGS), RedisStore(blog, SETTINGS)
    await one.open()
    await two.open()
    try:
        await one.set_limit("t", 10)
        await _life(one, 5)
        await one.create([Task(id=new_id(), type="t", idempotency_key="k")], 10.0)
        await one.announce("w1", ["t"])
        assert await two.counts() == {"status": {}, "type": {}}
        assert await two.limits() == {} and await two.known_types() == []
        raw = await _raw(redis_server)
        keys = [k async for k in raw.scan_iter(match=f"{{{one.keys.prefix}}}:*")]
        await raw.aclose()
        assert len(keys) > 10
        assert len({key_slot(k.encode()) for k in keys}) == 1
    finally:
        await one.close()
        await two.close()


async def test_purged_tasks_leave_no_key_or_index_entry(redis_server: ServiceProcess) -> None:
    store = RedisStore(url_for(redis_server), SETTINGS.replace(result_ttl=0.0))
    await store.open()
    try:
        await _life(store, 2)
        await store.create([Task(id=new_id(), type="t", idempotency_key="k")], 10.0)
        await store.discard([(await store.list_tasks(limit=1)).tasks[0].id])
        purged = [e for e in await store.maintain(5) if e.kind == "purged"]
        assert len(purged) == 2
        raw = await _raw(redis_server)
        left = sorted(
            [k async for k in raw.scan_iter(match=f"{store.keys.base}*")]
        )  # only the event log stays
        await raw.aclose()
        assert left == [store.keys.events]
        assert await store.counts() == {"status": {}, "type": {}}
    finally:
        await store.close()


async def test_a_skewed_client_clock_changes_nothing(
    store: RedisStore, redis_server: ServiceProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = await _raw(redis_server)
    seconds, micros = await raw.time()
    await raw.aclose()
    server_now = seconds + micros / 1e6
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    assert abs(await store.now() - server_now) < 5
    [(task, _)] = await store.create([Task(id=new_id(), type="t")], 0.0)
    claims, _ = await store.claim([task.id], "w1", 2.0)
    started = claims[0].task
    assert started is not None and started.started_at is not None
    assert abs(started.started_at - server_now) < 5
    assert abs(task.created_at - server_now) < 5
    assert (await store.running()) == {"t": 1}


async def test_store_rides_through_a_redis_restart(durable_redis: ServiceProcess) -> None:
    store = RedisStore(url_for(durable_redis), SETTINGS)
    await store.open()
    try:
        [(task, _)] = await store.create([Task(id=new_id(), type="t")], 0.0)
        durable_redis.restart()
        got = await store.get(task.id)  # same store object: reconnects by itself
        assert got is not None and got.id == task.id
        claims, _ = await store.claim([task.id], "w1", 30.0)
        assert claims[0].outcome == ClaimOutcome.STARTED
    finally:
        await store.close()


async def test_reads_time_out_every_overdue_task_past_one_batch(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xqueue_redis.store, "MAINTAIN_BATCH", 2)  # 5 overdue: three batches
    await store.create([Task(id=new_id(), type="t", queue_timeout=0.1) for _ in range(5)], 0.0)
    await asyncio.sleep(0.2)
    assert (await store.list_tasks(status=TaskStatus.PENDING)).tasks == []
    await store.create([Task(id=new_id(), type="t", queue_timeout=0.1) for _ in range(5)], 0.0)
    await asyncio.sleep(0.2)
    assert (await store.counts())["status"] == {"timeout": 10}


async def test_a_parked_task_left_in_the_publish_index_is_not_handed_out(
    store: RedisStore, redis_server: ServiceProcess
) -> None:
    await store.set_limit("t", 0)
    [(task, _)] = await store.create([Task(id=new_id(), type="t")], 0.0)
    claims, _ = await store.claim([task.id], "w1", 30.0)
    assert claims[0].outcome == ClaimOutcome.DEFERRED
    raw = await _raw(redis_server)
    try:
        # an older version kept parked tasks in `pub`, to be looked at again every second
        await raw.zadd(store.keys.key("pub"), {task.id: 0})
        assert await store.take_due(100, 30.0) == []
        assert await raw.zscore(store.keys.key("pub"), task.id) is None
    finally:
        await raw.aclose()
    await store.set_limit("t", 1)
    assert [m.task_id for m in await store.take_due(100, 30.0)] == [task.id]


@pytest.mark.parametrize("option", ["", "&lane=false"], ids=["lane", "redis-py"])
async def test_round_trips_per_task_life(redis_url: str, option: str) -> None:
    store = RedisStore(redis_url + option, SETTINGS)
    await store.open()
    sent: list[str] = []
    lane = store.conn._lane
    try:
        if option:  # redis-py carries every command
            assert lane is None
            client = store.conn._client
            original = client.execute_command

            async def counting(*args: Any, **options: Any) -> Any:
                sent.append(str(args[0]).upper())
                return await original(*args, **options)

            client.execute_command = counting
        else:
            assert lane is not None and store.conn._client is None
            send = lane.send

            async def counting_sends(commands: Any, blocks: float = 0.0) -> Any:
                sent.append("+".join(str(c[0]).upper() for c in commands))
                return await send(commands, blocks)

            lane.send = counting_sends  # type: ignore[method-assign]
        await _life(store, 1)  # loads the scripts
        for count in (1, 100):
            sent.clear()
            await _life(store, count)
            # TIME, then create, mark_queued, claim, finish: five calls for one task or a hundred
            assert sent == ["TIME"] + ["EVALSHA"] * 4
    finally:
        await store.close()


async def test_listing_by_status_merges_every_types_index_newest_first(store: RedisStore) -> None:
    # ids a user chose: byte order (as the lex indexes sort) is not a locale's order
    ids = ["Ab", "aB", "a-b", "a_b", "a.b", "B", "b", "_z", "Z9", "9z", "-x", "x-", "~", "A"]
    tasks = [Task(id=task_id, type=("t1", "t2", "t3")[i % 3]) for i, task_id in enumerate(ids)]
    await store.create(tasks, 10.0)
    started = ["aB", "Z9", "~"]
    claims, _ = await store.claim(started, "w1", 30.0)
    assert {c.outcome for c in claims} == {ClaimOutcome.STARTED}
    pending = sorted((i for i in ids if i not in started), key=str.encode, reverse=True)
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list_tasks(status=TaskStatus.PENDING, limit=4, cursor=cursor)
        assert all(t.status == TaskStatus.PENDING for t in page.tasks)
        seen += [t.id for t in page.tasks]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == pending
    running = await store.list_tasks(status=TaskStatus.PROCESSING)
    assert [t.id for t in running.tasks] == sorted(started, key=str.encode, reverse=True)
    assert await store.counts() == {
        "status": {"pending": len(pending), "processing": 3},
        "type": {"t1": 5, "t2": 5, "t3": 4},
    }


async def test_a_started_tasks_publish_entry_is_dropped_not_handed_out(
    store: RedisStore, redis_server: ServiceProcess
) -> None:
    # claimed before mark_queued: the claim leaves its `pub` entry for take_due to drop
    [(task, _)] = await store.create([Task(id=new_id(), type="t")], 0.0)
    claims, _ = await store.claim([task.id], "w1", 30.0)
    assert claims[0].outcome == ClaimOutcome.STARTED
    raw = await _raw(redis_server)
    try:
        assert await raw.zscore(store.keys.key("pub"), task.id) is not None
        assert await store.take_due(100, 30.0) == []
        assert await raw.zscore(store.keys.key("pub"), task.id) is None
    finally:
        await raw.aclose()
    # once it is pending again (a retry due now), it is handed out as before
    applied, _ = await store.finish([Finish(task.id, "w1", FinishKind.RETRY, error="x")])
    assert applied == [True]
    assert [m.task_id for m in await store.take_due(100, 30.0)] == [task.id]


async def test_redis_commands_per_claimed_and_finished_task() -> None:
    """What Redis runs per task (commands inside scripts included) for the worker's two
    store calls, claim and finish, in batches of 10: the record is read once per call,
    written with one HSET, and only the indexes the task is in are touched."""
    with ServiceProcess("redis", redis_command()) as server:
        store = RedisStore(url_for(server), SETTINGS)
        await store.open()
        raw = await _raw(server)
        try:
            tasks = [Task(id=new_id(), type="t") for _ in range(100)]
            await store.create(tasks, 10.0)
            await store.mark_queued([t.id for t in tasks])
            await store.claim([tasks[0].id], "w0", 30.0)  # loads the scripts
            await store.finish([Finish(tasks[0].id, "w0", FinishKind.SUCCESS)])
            await raw.config_resetstat()
            for start in range(0, 100, 10):
                ids = [t.id for t in tasks[start : start + 10] if t is not tasks[0]]
                await store.claim(ids, "w1", 30.0)
                await store.finish([Finish(i, "w1", FinishKind.SUCCESS) for i in ids])
            stats = await raw.info("commandstats")
        finally:
            await raw.aclose()
            await store.close()
    calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}
    calls.pop("config|resetstat", None)
    assert calls.pop("evalsha") == 20
    # claim: HGETALL, ZREM + ZADD (status index), HSET, ZADD (token), XADD (event);
    # finish: HMGET, ZREM + ZADD, HSET, ZREM (token), ZADD (retention), XADD;
    # per call (10 of each): TIME, and the type's limit and rates (claim: HGET, HGETALL)
    # or parked set (finish)
    assert calls["hmget"] == 99 and calls["hgetall"] == 99 + 10
    assert sum(calls.values()) <= 13 * 99 + 3 * 20, calls


async def test_take_due_looks_past_stale_entries(store: RedisStore) -> None:
    """A claim leaves its task's publish entry behind (dropped when met): a run of
    such entries ahead of due tasks must not make take_due hand out nothing."""
    tasks = [Task(id=new_id(), type="t") for _ in range(5)]
    for task in tasks:  # one at a time: the entries are in this order
        await store.create([task], 0.0)
    claims, _ = await store.claim([t.id for t in tasks[:3]], "w1", 30.0)  # started
    assert [c.outcome for c in claims] == [ClaimOutcome.STARTED] * 3
    due = await store.take_due(3, 30.0)
    assert [m.task_id for m in due] == [t.id for t in tasks[3:]]
    assert await store.take_due(3, 30.0) == []  # handed out: held
