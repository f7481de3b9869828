"""Every user mistake at the CLI: one line on stderr, exit code 2, database unchanged."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from tests.processes.core_helpers import Env, make_app
from xqueue_core import Settings

SIXTY_FOUR = '{"text": "' + "x" * 80 + '"}'
TYPES = (
    "block, fail_first, flaky, gather, hog, limited, once_slow, once_slow_fail, other, "
    "proc_spin, sleep, sync_sleep"
)

# (argv, extra environment, xqueue.toml text, what stderr must contain)
CASES: dict[str, tuple[list[str], dict[str, str], str | None, str]] = {
    "malformed json": (["submit", "sleep", "{"], {}, None, "PAYLOAD_JSON is not valid JSON"),
    "json list": (["submit", "sleep", "[1, 2]"], {}, None, "must be a JSON object, got list"),
    "json string": (["submit", "sleep", '"x"'], {}, None, "must be a JSON object, got str"),
    "unknown type": (
        ["submit", "nope", "{}"],
        {},
        None,
        f"no worker has registered task type 'nope'; registered types: {TYPES}",
    ),
    "bad type name": (["submit", "bad type!"], {}, None, "task type 'bad type!' is invalid"),
    "oversized payload": (
        ["submit", "sleep", SIXTY_FOUR],
        {"XQUEUE_MAX_PAYLOAD_BYTES": "64"},
        None,
        "payload is 91 bytes; the limit is 64 (max_payload_bytes)",
    ),
    "negative queue timeout": (
        ["submit", "sleep", "--queue-timeout", "-1"],
        {},
        None,
        "queue_timeout must not be negative, got -1.0",
    ),
    "negative process timeout": (
        ["submit", "sleep", "--process-timeout", "-0.5"],
        {},
        None,
        "process_timeout must not be negative, got -0.5",
    ),
    "nan timeout": (["submit", "sleep", "--queue-timeout", "nan"], {}, None, "must be finite"),
    "empty flow key": (
        ["submit", "sleep", "--key", ""],
        {},
        None,
        "key must be a string of 1-200 characters, got ''",
    ),
    "key limit with both key and per-key": (
        ["concurrency", "set", "sleep", "2", "--key", "a", "--per-key"],
        {},
        None,
        "give either key or per_key, not both",
    ),
    "reserved flow key": (
        ["concurrency", "set", "sleep", "2", "--key", "*"],
        {},
        None,
        "key '*' is reserved for the default of every key",
    ),
    "rate of nothing per second": (
        ["rate", "set", "sleep", "0/s"],
        {},
        None,
        "rate count must be between 1 and 100,000, got 0",
    ),
    "rate per fortnight": (
        ["rate", "set", "sleep", "5/fortnight"],
        {},
        None,
        "unknown period 'fortnight'; use ms, s, m, h or d",
    ),
    "rate that is not N/PERIOD": (
        ["rate", "set", "sleep", "x", "--per-key"],
        {},
        None,
        "rate 'x' must be N/PERIOD, like 50/s or 10/m",
    ),
    "rate with both key and per-key": (
        ["rate", "set", "sleep", "5/s", "--key", "a", "--per-key"],
        {},
        None,
        "give either key or per_key, not both",
    ),
    "rate of an unknown type": (
        ["rate", "set", "nope", "5/s"],
        {},
        None,
        "no worker has registered task type 'nope'",
    ),
    "debounce without a key": (
        ["submit", "sleep", "--debounce", "5"],
        {},
        None,
        "debounce needs a flow key",
    ),
    "debounce with a delay": (
        ["submit", "sleep", "--key", "k", "--debounce", "5", "--delay", "1"],
        {},
        None,
        "give either debounce or delay, not both",
    ),
    "debounce max of nothing": (
        ["submit", "sleep", "--key", "k", "--debounce", "5", "--debounce-max", "0"],
        {},
        None,
        "debounce_max must be more than 0 and at most 604800 s, got 0",
    ),
    "schedule cron that does not parse": (
        ["schedule", "add", "n", "sleep", "--cron", "61 * * * *"],
        {},
        None,
        "cron '61 * * * *' does not parse: Bad minute",
    ),
    "schedule in an unknown time zone": (
        ["schedule", "add", "n", "sleep", "--cron", "0 3 * * *", "--tz", "Mars/Olympus"],
        {},
        None,
        "unknown time zone 'Mars/Olympus'",
    ),
    "schedule every 0 seconds": (
        ["schedule", "add", "n", "sleep", "--every", "0"],
        {},
        None,
        "every must be at least 0.5 s",
    ),
    "schedule of an unregistered type": (
        ["schedule", "add", "n", "nope", "--every", "5"],
        {},
        None,
        "no worker has registered task type 'nope'",
    ),
    "schedule name taken": (
        ["schedule", "add", "kept", "sleep", "--every", "5"],
        {},
        None,
        "a schedule named 'kept' exists already",
    ),
    "negative per-key limit": (
        ["concurrency", "set", "sleep", "-1", "--per-key"],
        {},
        None,
        "max_concurrency must be between 0 and 1000000, got -1",
    ),
    "negative delay": (
        ["submit", "sleep", "--delay", "-1"],
        {},
        None,
        "delay must not be negative",
    ),
    "priority not a number": (
        ["submit", "sleep", "--priority", "high"],
        {},
        None,
        "'high' is not a valid integer",
    ),
    "priority out of range": (
        ["submit", "sleep", "--priority", "2000000"],
        {},
        None,
        "priority must be between -1000000 and 1000000, got 2000000",
    ),
    "negative max retry": (
        ["submit", "sleep", "--max-retry", "-1"],
        {},
        None,
        "max_retry must be between 0 and 1000, got -1",
    ),
    "bad eta": (["submit", "sleep", "--eta", "tomorrow"], {}, None, "eta must be an ISO 8601 time"),
    "delay and eta": (
        ["submit", "sleep", "--delay", "1", "--eta", "2030-01-01T00:00:00Z"],
        {},
        None,
        "give either delay or eta, not both",
    ),
    "empty idempotency key": (
        ["submit", "sleep", "--idempotency-key", ""],
        {},
        None,
        "idempotency_key must be a string of 1-256 characters",
    ),
    "store not a url": (
        ["submit", "sleep"],
        {"XQUEUE_STORE": "notaurl"},
        None,
        "setting 'store' (from environment XQUEUE_STORE): 'notaurl' is not a URL",
    ),
    "sqlite url with a host": (
        ["submit", "sleep", "--store", "sqlite://db.example.com/x.db"],
        {},
        None,
        "a sqlite URL names a local file",
    ),
    "in-memory sqlite": (
        ["submit", "sleep"],
        {"XQUEUE_BROKER": "sqlite:///:memory:"},
        None,
        "an in-memory database cannot work",
    ),
    "bad port": (
        ["submit", "sleep"],
        {"XQUEUE_STORE": "redis://localhost:abc/0"},
        None,
        "has an invalid port",
    ),
    "lease not a number": (
        ["submit", "sleep"],
        {"XQUEUE_LEASE_TTL": "soon"},
        None,
        "setting 'lease_ttl' (from environment XQUEUE_LEASE_TTL): expected a number, got 'soon'",
    ),
    "negative lease": (
        ["submit", "sleep"],
        {"XQUEUE_LEASE_TTL": "-1"},
        None,
        "must be greater than 0, got -1.0",
    ),
    "zero concurrency": (
        ["submit", "sleep"],
        {"XQUEUE_CONCURRENCY": "0"},
        None,
        "setting 'concurrency' (from environment XQUEUE_CONCURRENCY): must be at least 1",
    ),
    "heartbeat longer than lease": (
        ["submit", "sleep"],
        {"XQUEUE_HEARTBEAT_INTERVAL": "5"},
        None,
        "must be shorter than 'lease_ttl'",
    ),
    "bad boolean": (
        ["submit", "sleep"],
        {"XQUEUE_RETRY_JITTER": "maybe"},
        None,
        "expected true or false, got 'maybe'",
    ),
    "toml unknown key": (
        ["submit", "sleep"],
        {},
        "colour = 'blue'\n",
        "unknown setting 'colour'",
    ),
    "toml invalid": (["submit", "sleep"], {}, "lease_ttl = \n", "is not valid TOML"),
    "toml bad value": (
        ["submit", "sleep"],
        {},
        "[xqueue]\nconcurrency = 'many'\n",
        "setting 'concurrency' (from file xqueue.toml): expected a whole number, got 'many'",
    ),
    "missing config file": (
        ["submit", "sleep", "--config", "missing.toml"],
        {},
        None,
        "settings file 'missing.toml' does not exist",
    ),
    "redis without its plugin": (
        ["submit", "sleep"],
        {"XQUEUE_STORE": "redis://127.0.0.1:1/0"},
        None,
        "no installed plugin offers a store for redis:// URLs ('redis://127.0.0.1:1/0'); "
        "installed store schemes: sqlite:// (sqlite); "
        "install xqueue-redis (pip install xqueue-redis) to use redis://",
    ),
    "kafka without its plugin": (
        ["stats"],
        {"XQUEUE_BROKER": "kafka://127.0.0.1:1"},
        None,
        "install xqueue-kafka (pip install xqueue-kafka) to use kafka://",
    ),
    "mqtt without its plugin": (
        ["list"],
        {"XQUEUE_NOTIFY": "mqtt://127.0.0.1:1"},
        None,
        "installed notifier schemes: none; install xqueue-mqtt",
    ),
    "sqlite directory missing": (
        ["submit", "sleep", "--store", "sqlite:////nonexistent/dir/q.db"],
        {},
        None,
        "sqlite: directory '/nonexistent/dir' does not exist",
    ),
    "multi-process worker on a missing directory": (
        ["worker", "xqt_app:app", "--processes", "2"],
        {
            "XQUEUE_STORE": "sqlite:////nonexistent/q.db",
            "XQUEUE_BROKER": "sqlite:////nonexistent/q.db",
        },
        None,
        "sqlite: directory '/nonexistent' does not exist",
    ),
    "app without colon": (["worker", "xqt_app"], {}, None, "APP must look like 'module:attribute'"),
    "app module missing": (["worker", "no_such_mod:app"], {}, None, "cannot import module"),
    "app attribute missing": (["worker", "xqt_app:nope"], {}, None, "has no attribute 'nope'"),
    "app not an app": (
        ["worker", "xqt_app:make_app"],
        {},
        None,
        "'xqt_app:make_app' is a function, not an XQueue app",
    ),
    "worker unknown --types": (
        ["worker", "xqt_app:app", "--types", "sleep,nope"],
        {},
        None,
        "no handler for type(s) nope",
    ),
    "worker zero concurrency": (
        ["worker", "xqt_app:app", "--concurrency", "0"],
        {},
        None,
        "'--concurrency'",
    ),
    "worker without handlers": (["worker"], {}, None, "no task handlers"),
    "negative limit": (
        ["concurrency", "set", "sleep", "-1"],
        {},
        None,
        "max_concurrency must be",
    ),
    "limit not a number": (
        ["concurrency", "set", "sleep", "lots"],
        {},
        None,
        "N must be a whole number >= 0 or 'none', got 'lots'",
    ),
    "limit of unknown type": (
        ["concurrency", "set", "nope", "3"],
        {},
        None,
        "no worker has registered task type 'nope'",
    ),
    "list bad status": (["list", "--status", "done"], {}, None, "'done' is not one of"),
    "list bad limit": (["list", "--limit", "0"], {}, None, "'--limit'"),
    "status unknown id": (["status", "NOPE"], {}, None, "task 'NOPE' not found"),
    "cancel unknown id": (["cancel", "NOPE"], {}, None, "task 'NOPE' not found"),
    "bad log level flag": (["--log-level", "loud", "stats"], {}, None, "'loud' is not one of"),
    "bad log level env": (["stats"], {"XQUEUE_LOG_LEVEL": "loud"}, None, "'loud' is not one of"),
    "unknown command": (["frobnicate"], {}, None, "No such command 'frobnicate'"),
    "missing type": (["submit"], {}, None, "Missing argument 'TYPE'"),
}


@dataclass
class Outcome:
    proc: subprocess.CompletedProcess[str]
    before: dict[str, list[tuple[Any, ...]]]
    after: dict[str, list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case run at once, each on its own copy of a database with tasks, a
    limit and announced types (so that a change would show)."""
    seed = Env(tmp_path_factory.mktemp("bad-input-seed"))

    async def fill() -> None:
        settings = Settings(store=seed.url, broker=seed.url)
        async with make_app("filler", settings=settings, autoload_plugins=False) as app:
            await app.submit_many([{"type": "sleep", "payload": {"n": i}} for i in range(3)])
            await app.submit("sleep", {}, idempotency_key="kept")
            await app.set_concurrency("limited", 2)
            await app.set_rate("limited", "5/s")
            await app.add_schedule("kept", "sleep", every=60)
            assert app.store is not None
            await app.store.announce("some-worker", sorted(app.handlers))

    asyncio.run(fill())

    def run_case(case: str) -> Outcome:
        argv, extra_env, toml_text, _ = CASES[case]
        xenv = Env(tmp_path_factory.mktemp("bad-input"))
        with sqlite3.connect(seed.db) as src, sqlite3.connect(xenv.db) as dst:
            src.backup(dst)
        if toml_text is not None:
            (xenv.dir / "xqueue.toml").write_text(toml_text)
        before = xenv.dump()
        proc = xenv.cli(*argv, env=xenv.env(**extra_env), timeout=30)
        return Outcome(proc, before, xenv.dump())

    with ThreadPoolExecutor(max_workers=4) as pool:  # CLI start-up dominates: overlap it
        return dict(zip(sorted(CASES), pool.map(run_case, sorted(CASES)), strict=True))


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_one_line_exit_2_nothing_changed(outcomes: dict[str, Outcome], case: str) -> None:
    proc = outcomes[case].proc
    message = CASES[case][3]
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert outcomes[case].after == outcomes[case].before
    assert outcomes[case].before["tasks"]  # the copy really had the seed data
