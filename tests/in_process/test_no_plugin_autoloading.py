"""tests/conftest.py keeps in-process code from finding entry-point plugins unless a test
is marked ``autoload_plugins``; processes a test starts still find them."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest
import xqueue_redis.plugin

from xqueue_core import XQueue
from xqueue_core.entry_points import entry_points
from xqueue_core.plugins import ENTRY_POINT_GROUP, Plugins

INSTALLED = {"http", "kafka", "mqtt", "redis"}  # the plugins of this repository


@pytest.fixture
def shell_switches_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever XQUEUE_LOAD_PLUGINS / XQUEUE_DISABLE_PLUGINS the shell has set."""
    monkeypatch.delenv("XQUEUE_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("XQUEUE_DISABLE_PLUGINS", raising=False)


def names(plugins: Plugins) -> set[str]:
    return {info.name for info in plugins.infos()}


def test_without_the_marker_no_entry_point_plugin_is_found(shell_switches_off: None) -> None:
    assert names(Plugins()) == {"sqlite"}
    assert names(XQueue().plugins) == {"sqlite"}
    assert "redis" not in XQueue().plugins.schemes("store")
    # plugins a test registers itself still are
    assert names(Plugins(extra=[xqueue_redis.plugin])) == {"sqlite", "xqueue_redis.plugin"}


def test_the_entry_points_themselves_are_still_readable() -> None:
    """Only discovery is switched off, not the reader tests/processes test."""
    assert {ep.name for ep in entry_points(ENTRY_POINT_GROUP)} >= INSTALLED


@pytest.mark.autoload_plugins
def test_with_the_marker_the_installed_plugins_are_found(shell_switches_off: None) -> None:
    assert INSTALLED | {"sqlite"} <= names(Plugins())
    assert XQueue().plugins.schemes("store")["redis"] == "redis"


def test_the_marker_does_not_outlive_its_test(shell_switches_off: None) -> None:
    assert names(Plugins()) == {"sqlite"}


def test_a_process_the_test_starts_finds_the_installed_plugins() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XQUEUE_")}
    proc = subprocess.run(
        [sys.executable, "-m", "xqueue_core.cli.main", "plugins", "--json"],
        capture_output=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert {p["name"] for p in orjson.loads(proc.stdout)} >= INSTALLED
