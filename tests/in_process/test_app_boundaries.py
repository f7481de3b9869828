"""Settings files, plugin validation and reads that notice overdue tasks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from xqueue_core import PluginError, SettingsError, TaskStatus, XQueue, hookimpl, load_settings
from xqueue_core.plugins import Plugins


def test_plugin_tables_beside_or_inside_the_xqueue_table(tmp_path: Path) -> None:
    path = tmp_path / "xqueue.toml"
    path.write_text('[xqueue]\nconcurrency = 7\n[xqueue.http]\nport = 9000\n[mqtt]\nprefix = "p"\n')
    settings = load_settings(config_file=path, env={})
    assert settings.concurrency == 7
    assert settings.extra("http") == {"port": 9000}
    assert settings.extra("mqtt") == {"prefix": "p"}


def test_a_stray_key_outside_the_xqueue_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "xqueue.toml"
    path.write_text("concurrency = 3\n[xqueue]\nprocesses = 2\n")
    with pytest.raises(SettingsError, match="concurrency must go inside"):
        load_settings(config_file=path, env={})


def test_a_misspelt_hook_is_a_one_line_plugin_error() -> None:
    class Misspelt:
        @hookimpl
        def xqueue_task_evnet(self, event: object) -> None: ...

    with pytest.raises(PluginError, match=r"does not have.*XQUEUE_DISABLE_PLUGINS"):
        Plugins(autoload=False, extra=[Misspelt()]).infos()


async def test_listing_without_workers_shows_overdue_tasks_as_timeout(
    sqlite_url: str, no_plugin_autoload: None
) -> None:
    app = XQueue(store=sqlite_url, broker=sqlite_url)

    @app.task("t")
    async def handler(payload: dict[str, object]) -> None:
        return None

    async with app:
        task = await app.submit("t", {}, queue_timeout=0.1)
        await asyncio.sleep(0.3)
        page = await app.list(status="pending")
        assert task.id not in [t.id for t in page.tasks]
        stats = await app.stats()
        assert stats["by_status"]["timeout"] == 1
        assert (await app.get(task.id)).status == TaskStatus.TIMEOUT


async def test_out_of_range_times_types_and_limits_are_refused(
    sqlite_url: str, no_plugin_autoload: None
) -> None:
    from xqueue_core import ValidationError

    app = XQueue(store=sqlite_url, broker=sqlite_url)

    @app.task("t")
    async def handler(payload: dict[str, object]) -> None:
        return None

    async with app:
        for bad in ({"delay": 1e12}, {"eta": 1e13}, {"eta": "10000-01-01T00:00:00Z"}):
            with pytest.raises(ValidationError):
                await app.submit("t", {}, **bad)
        with pytest.raises(ValidationError, match="task type"):
            await app.submit("t\n", {})
        with pytest.raises(ValidationError, match="between 0 and"):
            await app.set_concurrency("t", 10**30)
        assert (await app.stats())["total"] == 0


def test_urls_with_several_hosts_are_accepted_and_each_port_checked() -> None:
    settings = load_settings(env={}, overrides={"broker": "kafka://a:9092,b:9093"})
    assert settings.broker == "kafka://a:9092,b:9093"
    with pytest.raises(SettingsError, match="invalid port in 'b:x'"):
        load_settings(env={}, overrides={"broker": "kafka://a:9092,b:x"})
