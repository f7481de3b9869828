"""The whole app on the Kafka broker: discovery, a worker, stats and the CLI; Redis store too."""

from __future__ import annotations

import asyncio
import bisect
import secrets
from collections import Counter
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from xqueue_kafka.broker import KafkaBroker
from xqueue_kafka.clients import connection_kwargs
from xqueue_kafka.options import parse_settings

from tests.kafka.kafka_procs import Workers
from tests.kafka.kafka_services import FAST, make_url
from xqueue_core import XQueue
from xqueue_core.cli.main import cli
from xqueue_core.models import Message
from xqueue_core.settings import Settings
from xqueue_core.testing.services import ServiceProcess, eventually
from xqueue_core.testing.workers import most_at_once

pytestmark = pytest.mark.autoload_plugins  # discovery is part of what is tested


@pytest.fixture(autouse=True)
def only_the_kafka_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Discover plugins through entry points, but only this one."""
    monkeypatch.setenv("XQUEUE_LOAD_PLUGINS", "kafka")


async def test_the_app_runs_on_kafka_with_the_embedded_store(
    kafka_url: str, sqlite_url: str
) -> None:
    app = XQueue(broker=kafka_url, store=sqlite_url, lease_ttl=2.0, heartbeat_interval=0.2)

    @app.task("square")
    async def square(payload: dict[str, int]) -> int:
        return payload["n"] ** 2

    async with app:
        assert isinstance(app.broker, KafkaBroker)
        async with app.worker(concurrency=8):
            tasks = await app.submit_many(
                [{"type": "square", "payload": {"n": n}, "priority": n % 3 - 1} for n in range(60)]
            )
            done = [await app.wait(t.id, timeout=30) for t in tasks]
        assert [t.result for t in done] == [n**2 for n in range(60)]
        assert {str(t.status) for t in done} == {"success"}
        assert await app.health() == {"broker": "ok", "store": "ok"}

        async def committed() -> bool:  # offsets are committed asynchronously
            numbers = (await app.stats())["broker"]
            return bool(numbers["messages_waiting"] == 0 and numbers["messages_in_flight"] == 0)

        await eventually(committed, 20, "every offset to be committed")
        broker = (await app.stats())["broker"]
    assert set(broker["lag_by_band"]) == {"high", "normal", "low"}


def test_cli_stats_shows_lag_per_partition(kafka_url: str, sqlite_url: str) -> None:
    async def publish() -> None:
        broker = KafkaBroker(kafka_url, Settings())
        await broker.open()
        await broker.publish([Message(f"m{i}", "t", 5) for i in range(4)])
        await broker.close()

    asyncio.run(publish())
    runner = CliRunner()
    result = runner.invoke(cli, ["stats", "--json", "--broker", kafka_url, "--store", sqlite_url])
    assert result.exit_code == 0, result.output
    broker = orjson.loads(result.output)["broker"]
    topic = parse_settings(kafka_url, Settings()).topic("high")
    assert sum(broker["lag"][topic].values()) == 4
    assert broker["messages_waiting"] == 4


def test_cli_names_an_unreachable_broker(sqlite_url: str) -> None:
    result = CliRunner().invoke(
        cli, ["stats", "--broker", "kafka://127.0.0.1:1", "--store", sqlite_url]
    )
    assert result.exit_code == 1
    assert "kafka broker unreachable at 127.0.0.1:1" in result.output
    assert "Traceback" not in result.output


def test_tls_and_sasl_options_reach_the_clients(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"")
    url = "kafka://u:p@h:9093?security_protocol=SASL_PLAINTEXT&sasl_mechanism=SCRAM-SHA-256"
    kwargs = connection_kwargs(parse_settings(url, Settings()))
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("u", "p")
    assert "ssl_context" not in kwargs
    plain = connection_kwargs(parse_settings("kafka://h", Settings()))
    assert plain["security_protocol"] == "PLAINTEXT" and "sasl_mechanism" not in plain
    tls = connection_kwargs(
        parse_settings("kafka://h?security_protocol=SSL&ssl_check_hostname=false", Settings())
    )
    assert tls["ssl_context"].check_hostname is False


@pytest.mark.slow
async def test_two_hosts_share_kafka_and_the_redis_store(
    kafka_servers: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XQUEUE_LOAD_PLUGINS", "kafka,redis")

    def redis(port: int, workdir: Path) -> list[str]:
        return [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
            "--save",
            "",
            "--appendonly",
            "no",
        ]

    broker = make_url(kafka_servers)
    with ServiceProcess("redis-kafka", redis) as server:
        store = f"redis://127.0.0.1:{server.port}/0"
        workers = Workers(
            tmp_path, broker, store, XQUEUE_LOAD_PLUGINS="kafka,redis", XQ_CONCURRENCY="10"
        )
        app = XQueue(broker=broker, store=store)
        app.task("work")(lambda payload: None)
        try:
            workers.start(2)
            async with app:
                tasks = await app.submit_many([{"type": "work", "payload": {"sleep": 0.01}}] * 300)

                async def finished() -> bool:
                    return (await app.stats())["by_status"]["success"] == 300

                await eventually(finished, 60, "300 tasks to succeed")
        finally:
            workers.stop()
    assert workers.count("start") == Counter({t.id: 1 for t in tasks})
    assert len({r.pid for r in workers.runs()}) == 2, "both hosts should have worked"


def _app_with_prefix(servers: str, store_url: str, group: str = "") -> XQueue:
    """An app with its own topic prefix and (unless ``group``) the group it derives."""
    url = f"kafka://{servers}?prefix=p{secrets.token_hex(4)}&{FAST}"
    app = XQueue(
        broker=f"{url}&group={group}" if group else url,
        store=store_url,
        lease_ttl=2.0,
        heartbeat_interval=0.2,
    )

    @app.task("echo")
    async def echo(payload: dict[str, int]) -> int:
        return payload["n"]

    return app


async def _runs_its_tasks(app: XQueue, count: int = 20) -> None:
    tasks = await app.submit_many([{"type": "echo", "payload": {"n": n}} for n in range(count)])
    done = [await app.wait(t.id, timeout=30) for t in tasks]
    assert [(str(t.status), t.result) for t in done] == [("success", n) for n in range(count)]


async def test_apps_with_different_prefixes_on_one_broker_never_share_a_group(
    kafka_servers: str, tmp_path: Path
) -> None:
    """Observed with the old default group (the same for every prefix): a second app
    started on the broker just after the first stopped received no task for 90 s."""
    first = _app_with_prefix(kafka_servers, f"sqlite:///{tmp_path / 'a.db'}")
    second = _app_with_prefix(kafka_servers, f"sqlite:///{tmp_path / 'b.db'}")
    async with first, second:
        groups = {app.broker.options.group for app in (first, second)}  # type: ignore[union-attr]
        assert len(groups) == 2 and all(g.endswith("-workers") for g in groups)
        # one after the other
        async with first.worker(concurrency=4):
            await _runs_its_tasks(first)
        await asyncio.sleep(1)
        async with second.worker(concurrency=4):
            await _runs_its_tasks(second)
        # and together
        async with first.worker(concurrency=4), second.worker(concurrency=4):
            await asyncio.gather(_runs_its_tasks(first), _runs_its_tasks(second))


@pytest.mark.slow
async def test_a_key_at_its_limit_holds_back_only_its_own_tasks_on_kafka(
    kafka_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    """Admission at dequeue: two worker processes on Kafka, per-key limit 1 on ``keyed``;
    3 keys with 4 runs of 0.3 s each, then 10 tasks of the unlimited type ``work``. A
    keyed task fetched while its key runs is parked in the store and its message
    acknowledged, so the partitions flow on: never two runs of a key at once (keys run
    side by side), every ``work`` task finishes before the keyed backlog does, and every
    task runs once and succeeds."""
    workers = Workers(tmp_path, kafka_url, sqlite_url, XQ_CONCURRENCY="4")
    app = XQueue(broker=kafka_url, store=sqlite_url)
    app.task("keyed", key="tenant")(lambda payload: None)
    app.task("work")(lambda payload: None)
    try:
        async with app:
            await app.set_concurrency("keyed", 1, per_key=True)
            workers.start(2)
            keyed = await app.submit_many(
                [
                    {"type": "keyed", "payload": {"tenant": key, "sleep": 0.3}}
                    for key in "abc"
                    for _ in range(4)
                ]
            )
            work = await app.submit_many([{"type": "work", "payload": {"sleep": 0.05}}] * 10)

            async def finished() -> bool:
                return bool((await app.stats())["by_status"].get("success", 0) == 22)

            await eventually(finished, 60, "22 tasks to succeed")
            keyed_done = [await app.get(t.id) for t in keyed]
            work_done = [await app.get(t.id) for t in work]
            usage = await app.key_usage("keyed", 10)
    finally:
        workers.stop()
    assert {str(t.status) for t in keyed_done + work_done} == {"success"}
    assert workers.count("start") == Counter({t.id: 1 for t in keyed + work})
    for key in "abc":
        assert most_at_once([t for t in keyed_done if t.key == key]) == 1, key
    assert most_at_once(keyed_done) >= 2  # the limit is each key's, not the type's
    assert most_at_once(work_done) >= 1  # each has started_at and completed_at
    last_work = max(t.completed_at or 0.0 for t in work_done)
    last_keyed = max(t.completed_at or 0.0 for t in keyed_done)
    assert last_work < last_keyed, "the work tasks waited behind the keyed backlog"
    assert usage == []  # no key with a run or a parked task left: nothing leaked


async def test_a_rate_holds_back_only_its_type_on_kafka(
    kafka_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    """A rate of 3/s on ``keyed`` over two worker processes on Kafka, 12 keyed tasks and
    then 10 ``work`` tasks: a keyed task fetched over the rate is parked in the store and
    its message acknowledged, so the partitions flow on: never more than 3 keyed starts
    in any second (on the store's clock), every ``work`` task finishes before the keyed
    backlog does, and every task runs once."""
    workers = Workers(tmp_path, kafka_url, sqlite_url, XQ_CONCURRENCY="4")
    app = XQueue(broker=kafka_url, store=sqlite_url)
    app.task("keyed", key="tenant")(lambda payload: None)
    app.task("work")(lambda payload: None)
    try:
        async with app:
            await app.set_rate("keyed", "3/s")
            workers.start(2)
            keyed = await app.submit_many(
                [
                    {"type": "keyed", "payload": {"tenant": f"k{i % 4}", "sleep": 0.02}}
                    for i in range(12)
                ]
            )
            work = await app.submit_many([{"type": "work", "payload": {"sleep": 0.05}}] * 10)

            async def finished() -> bool:
                return bool((await app.stats())["by_status"].get("success", 0) == 22)

            await eventually(finished, 60, "22 tasks to succeed")
            keyed_done = [await app.get(t.id) for t in keyed]
            work_done = [await app.get(t.id) for t in work]
    finally:
        workers.stop()
    assert workers.count("start") == Counter({t.id: 1 for t in keyed + work})
    started = sorted(t.started_at or 0.0 for t in keyed_done)
    assert max(bisect.bisect_left(started, s + 1.0) - i for i, s in enumerate(started)) == 3
    assert started[-1] - started[0] >= 3.0  # 12 starts at 3/s take three windows more
    last_work = max(t.completed_at or 0.0 for t in work_done)
    assert last_work < max(t.completed_at or 0.0 for t in keyed_done)
