"""Plugin switches and failures with real entry points: throwaway distributions
(a module plus a ``.dist-info`` directory) put on ``PYTHONPATH`` of the CLI."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import orjson
import pytest

from tests.processes.core_helpers import Env

FAKE_PLUGIN = '''
"""A throwaway plugin: a handler, a command, a store scheme, and hooks that record."""
import click
from xqueue_core import hookimpl
from xqueue_core.interfaces import BackendSpec
from xqt_app import record


@hookimpl
def xqueue_register_backends(register):
    register(BackendSpec(role="store", schemes=("fakestore",), factory=lambda url, s: None))


@hookimpl
def xqueue_register_handlers(register):
    async def echo(payload):
        return {"echo": payload}

    register("fake.echo", echo)


@hookimpl
def xqueue_register_commands(cli):
    @cli.command()
    def hello():
        """Say hello."""
        click.echo("hello from fake")


@hookimpl
def xqueue_worker_start(worker_id, task_types):
    record("hook", hook="worker_start", task_types=task_types)


@hookimpl
def xqueue_worker_stop(worker_id):
    record("hook", hook="worker_stop")


@hookimpl
def xqueue_before_execute(task, context):
    record("hook", hook="before_execute", task_id=task.id)


@hookimpl
def xqueue_after_execute(task, context, outcome, error):
    record("hook", hook="after_execute", task_id=task.id, outcome=str(outcome))


@hookimpl
def xqueue_task_event(event):
    record("hook", hook="task_event", task_id=event.task_id, status=str(event.status))
'''


def make_distribution(root: Path, dist: str, module: str, entry: str, source: str) -> None:
    """An importable module and the metadata that makes it an installed distribution."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[xqueue]\n{entry} = {module}\n")


@pytest.fixture
def plugin_env(xenv: Env, tmp_path: Path) -> Env:
    make_distribution(tmp_path / "site", "xqt-fakeplug", "xqt_fakeplug", "fake", FAKE_PLUGIN)
    make_distribution(
        tmp_path / "site",
        "xqt-brokenplug",
        "xqt_brokenplug",
        "broken",
        "raise RuntimeError('boom at import')\n",
    )
    xenv.vars["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "site"), xenv.vars["PYTHONPATH"]])
    return xenv


def plugin_names(xenv: Env, **env: str) -> list[str]:
    proc = xenv.cli("plugins", "--json", env=xenv.env(**env))
    assert proc.returncode == 0, proc.stderr
    return [p["name"] for p in orjson.loads(proc.stdout)]


def test_load_and_disable_switches(plugin_env: Env) -> None:
    xenv = plugin_env
    assert plugin_names(xenv, XQUEUE_LOAD_PLUGINS="") == ["sqlite"]
    assert plugin_names(xenv, XQUEUE_LOAD_PLUGINS="fake") == ["sqlite", "fake"]
    both = {"XQUEUE_LOAD_PLUGINS": "fake,broken"}
    assert plugin_names(xenv, **both, XQUEUE_DISABLE_PLUGINS="broken") == ["sqlite", "fake"]
    assert plugin_names(xenv, **both, XQUEUE_DISABLE_PLUGINS="broken, fake") == ["sqlite"]

    proc = xenv.cli("plugins", "--json", env=xenv.env(XQUEUE_LOAD_PLUGINS="fake"))
    fake = orjson.loads(proc.stdout)[1]
    assert (fake["distribution"], fake["version"]) == ("xqt-fakeplug", "0.1")
    assert fake["schemes"] == {"store": ["fakestore"]}
    assert "xqueue_register_handlers" in fake["hooks"]


def test_a_broken_plugin_fails_loudly_with_a_hint(plugin_env: Env) -> None:
    xenv = plugin_env
    before = xenv.dump()
    proc = xenv.cli("submit", "sleep", env=xenv.env(XQUEUE_LOAD_PLUGINS="fake,broken"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: plugin 'broken' (distribution xqt-brokenplug) failed to load: "
        "RuntimeError: boom at import; disable it with XQUEUE_DISABLE_PLUGINS=broken"
    )
    assert xenv.dump() == before


def test_unknown_scheme_lists_what_plugins_offer(plugin_env: Env) -> None:
    xenv = plugin_env
    env = xenv.env(XQUEUE_LOAD_PLUGINS="fake", XQUEUE_STORE="redis://127.0.0.1:1/0")
    proc = xenv.cli("stats", env=env)
    assert proc.returncode == 2
    assert "installed store schemes: fakestore:// (fake), sqlite:// (sqlite)" in proc.stderr


def test_plugin_command_handlers_and_hooks_in_a_worker(plugin_env: Env) -> None:
    xenv = plugin_env
    env = xenv.env(XQUEUE_LOAD_PLUGINS="fake")
    hello = xenv.cli("hello", env=env)
    assert (hello.returncode, hello.stdout) == (0, "hello from fake\n")
    off = xenv.env(XQUEUE_LOAD_PLUGINS="fake", XQUEUE_DISABLE_PLUGINS="fake")
    gone = xenv.cli("hello", env=off)
    assert gone.returncode == 2 and "No such command 'hello'" in gone.stderr

    worker = xenv.worker(env=env, app="").wait_started()  # no APP: handlers from plugins
    proc = xenv.cli("submit", "fake.echo", '{"x": 1}', "--wait", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    task = orjson.loads(proc.stdout)
    assert task["result"] == {"echo": {"x": 1}}
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    hooks = [
        (r["hook"], r.get("status") or r.get("outcome"))
        for r in xenv.records("hook")
        if r["pid"] == worker.pid
    ]
    submitter = [r["status"] for r in xenv.records("hook") if r["pid"] != worker.pid]
    assert submitter == ["pending"]  # the CLI's own event, in its own process
    assert hooks == [
        ("worker_start", None),
        ("task_event", "processing"),
        ("before_execute", None),
        ("after_execute", "success"),
        ("task_event", "success"),
        ("worker_stop", None),
    ]
