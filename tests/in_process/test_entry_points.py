"""Entry point discovery without importlib.metadata reads what it would read."""

from __future__ import annotations

import importlib.metadata
import sys
import zipfile
from pathlib import Path

import pytest

from xqueue_core.entry_points import entry_points


@pytest.mark.parametrize("group", ["xqueue", "console_scripts", "pytest11"])
def test_the_installed_entry_points_are_those_importlib_metadata_finds(group: str) -> None:
    mine = sorted((e.name, e.value, e.distribution, e.version) for e in entry_points(group))
    reference = sorted(
        (e.name, e.value.split("[")[0].strip(), e.dist.name if e.dist else "", e.dist.version)
        for e in importlib.metadata.entry_points(group=group)
        if e.dist is not None
    )
    assert mine == reference
    assert mine or group != "xqueue"  # the test environment installs the plugins


def dist(where: Path, directory: str, entry_points_txt: str | None, headers: str = "") -> None:
    meta = where / directory
    meta.mkdir(parents=True)
    if headers:
        name = "PKG-INFO" if directory.endswith(".egg-info") else "METADATA"
        (meta / name).write_text(headers)
    if entry_points_txt is not None:
        (meta / "entry_points.txt").write_text(entry_points_txt)


def test_sections_comments_extras_shadowing_and_eggs(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    dist(
        first,
        "shop_plugins-1.2.dist-info",
        "; a comment\n[console_scripts]\nshop = shop:main\n\n"
        "[ xqueue ]\n# another\nshop = shop_plugins.plugin:Plugin.instance [fast]\n"
        "audit=shop_plugins.audit\n",
        "Metadata-Version: 2.1\nName: Shop-Plugins\nVersion: 1.2\n\nName: not a header\n",
    )
    dist(first, "nothing-0.1.dist-info", None)  # no entry points at all
    dist(first, "legacy.egg-info", "[xqueue]\nold = legacy_plugin\n", "Name: legacy\nVersion: 3\n")
    # the same distribution again, later on the path: shadowed, as importlib.metadata does
    dist(second, "Shop_Plugins-0.9.dist-info", "[xqueue]\nshop = stale:thing\n", "Name: shop\n")
    dist(second, "bare-2.0.dist-info", "[xqueue]\nbare = bare\n")  # no METADATA
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped-1.0.dist-info/entry_points.txt", "[xqueue]\nzipped = zipped\n")
    found = entry_points(
        "xqueue", [str(first), str(tmp_path / "missing"), str(archive), str(second)]
    )
    assert [(e.name, e.value, e.distribution, e.version) for e in found] == [
        ("old", "legacy_plugin", "legacy", "3"),
        ("shop", "shop_plugins.plugin:Plugin.instance", "Shop-Plugins", "1.2"),
        ("audit", "shop_plugins.audit", "Shop-Plugins", "1.2"),
        ("bare", "bare", "bare", "2.0"),
    ]


def test_load_imports_the_module_and_follows_attributes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ep_target_mod.py").write_text("class Plugin:\n    instance = 'the instance'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    dist(tmp_path, "ep_target-1.0.dist-info", "[xqueue]\na = ep_target_mod:Plugin.instance\n"
         "b = ep_target_mod\n")  # fmt: skip
    a, b = entry_points("xqueue", [str(tmp_path)])
    assert a.load() == "the instance"
    assert b.load() is sys.modules["ep_target_mod"]
