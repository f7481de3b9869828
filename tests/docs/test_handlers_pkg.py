"""examples/handlers_pkg: found through its entry point, run by a worker without APP.

``./scripts/test`` installs it (``pip install -e examples/handlers_pkg``); these
tests use the installed distribution exactly as a user would, through the
``xqueue`` command in subprocesses with their own SQLite file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

from xqueue_core import XQueue
from xqueue_core.testing import reaper
from xqueue_core.testing.services import wait_until

PLUGIN = "example_handlers"
TYPES = {"example.checksum", "example.resize", "example.wordcount"}
XQUEUE = [sys.executable, "-m", "xqueue_core.cli.main"]


def env_for(db: Path, **switches: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XQUEUE_")}
    url = f"sqlite:///{db}"
    env.update(XQUEUE_BROKER=url, XQUEUE_STORE=url, NO_COLOR="1", **switches)
    return env


def xqueue(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*XQUEUE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_the_distribution_is_installed() -> None:
    try:
        dist = distribution("xqueue-example-handlers")
    except PackageNotFoundError:
        pytest.fail("run ./scripts/test, or: pip install -e examples/handlers_pkg")
    points = [ep for ep in dist.entry_points if ep.group == "xqueue"]
    assert [(ep.name, ep.value) for ep in points] == [(PLUGIN, "xqueue_example_handlers.plugin")]


def test_plugins_lists_it_with_its_hook(tmp_path: Path) -> None:
    env = env_for(tmp_path / "q.db", XQUEUE_LOAD_PLUGINS=PLUGIN)
    out = xqueue("plugins", "--json", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    listed = {p["name"]: p for p in json.loads(out.stdout)}
    assert set(listed) == {"sqlite", PLUGIN}
    mine = listed[PLUGIN]
    assert mine["distribution"] == "xqueue-example-handlers"
    assert mine["module"] == "xqueue_example_handlers.plugin"
    assert mine["hooks"] == ["xqueue_register_handlers"]
    assert mine["version"] == "0.1.0"


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``xqueue worker`` with no APP, only this plugin loaded; yields its environment."""
    tmp_path = tmp_path_factory.mktemp("handlers_pkg")
    env = env_for(tmp_path / "q.db", XQUEUE_LOAD_PLUGINS=PLUGIN)
    log = tmp_path / "worker.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [*XQUEUE, "worker", "--concurrency", "4"],
            env=env,
            cwd=tmp_path,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    reaper.watch(proc.pid)
    try:
        wait_until(
            lambda: "worker started" in log.read_text() or proc.poll() is not None,
            30,
            "the worker to start",
        )
        assert proc.poll() is None, log.read_text()
        assert all(t in log.read_text() for t in TYPES), log.read_text()
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
        reaper.forget(proc.pid)


@pytest.mark.parametrize(
    ("task_type", "payload", "result"),
    [
        ("example.resize", {"width": 100, "height": 50, "scale": 0.5}, {"width": 50, "height": 25}),
        (
            "example.checksum",
            {"text": "hello", "algorithm": "md5"},
            {"algorithm": "md5", "digest": "5d41402abc4b2a76b9719d911017c592"},
        ),
        (
            "example.wordcount",
            {"text": "the cat saw the dog", "top": 1},
            {"words": 5, "top": [["the", 2]]},
        ),
    ],
)
def test_worker_without_app_runs_its_tasks(
    worker: dict[str, str],
    tmp_path: Path,
    task_type: str,
    payload: dict[str, object],
    result: object,
) -> None:
    out = xqueue(
        "submit",
        task_type,
        json.dumps(payload),
        "--wait",
        "--timeout",
        "30",
        "--json",
        env=worker,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    task = json.loads(out.stdout)
    assert (task["status"], task["result"]) == ("success", result)


def test_a_failing_handler_fails_its_task(worker: dict[str, str], tmp_path: Path) -> None:
    out = xqueue(
        "submit",
        "example.checksum",
        '{"algorithm": "crc0"}',
        "--wait",
        "--json",
        env=worker,
        cwd=tmp_path,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    task = json.loads(out.stdout)
    assert task["status"] == "failed"
    assert "algorithm must be one of" in task["error"]


@pytest.mark.autoload_plugins  # the in-process half reads the real entry points too
def test_disabling_the_plugin_removes_its_handlers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_for(tmp_path / "q.db", XQUEUE_DISABLE_PLUGINS=PLUGIN)
    listed = json.loads(xqueue("plugins", "--json", env=env, cwd=tmp_path).stdout)
    assert PLUGIN not in {p["name"] for p in listed}
    out = xqueue("submit", "example.checksum", env=env, cwd=tmp_path)
    assert out.returncode == 2
    assert "no worker has registered task type 'example.checksum'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr

    monkeypatch.setenv("XQUEUE_DISABLE_PLUGINS", PLUGIN)
    monkeypatch.delenv("XQUEUE_LOAD_PLUGINS", raising=False)
    assert not TYPES & set(XQueue(store="sqlite:///unused.db").handlers)
    monkeypatch.delenv("XQUEUE_DISABLE_PLUGINS")
    assert set(XQueue(store="sqlite:///unused.db").handlers) >= TYPES
