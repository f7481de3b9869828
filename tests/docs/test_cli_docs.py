"""docs/cli.md documents every command with every option and argument: the core's,
and those of every installed plugin (found through ``xqueue_register_commands``)."""

from __future__ import annotations

import re

import click
import pytest

from tests.docs.docblocks import DOCS
from xqueue_core.cli.common import BACKEND_OPTION_NAMES
from xqueue_core.cli.main import cli
from xqueue_core.plugins import Plugins

PAGE = DOCS / "cli.md"
PLUGINS_DIR = DOCS.parent / "plugins"
BACKEND = {f"--{name}" for name in BACKEND_OPTION_NAMES} | {"--config"}


def commands(group: click.Group, prefix: str = "xqueue") -> dict[str, click.Command]:
    """``{"xqueue worker": command, "xqueue concurrency set": command, ...}``."""
    out: dict[str, click.Command] = {}
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            out.update(commands(command, path))
        else:
            out[path] = command
    return out


def sections() -> dict[str, str]:
    text = PAGE.read_text()
    parts = re.split(r"^(#{2,3} .+)$", text, flags=re.MULTILINE)
    return {parts[i].lstrip("# ").strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def plugin_commands() -> dict[str, tuple[click.Command, str | None]]:
    """``{"xqueue serve": (command, "xqueue-http"), ...}``: the commands every installed
    plugin adds, each with its distribution. Built in a scratch group, so the real
    ``cli`` stays as the core defines it."""
    plugins = Plugins(env={})  # every installed plugin, whatever the shell's switches say
    dists = {info.name: info.distribution for info in plugins.infos()}
    out: dict[str, tuple[click.Command, str | None]] = {}
    scratch: dict[str, click.Group] = {}
    for plugin, call in plugins.hooks.each(
        "xqueue_register_commands",
        lambda name: {"cli": scratch.setdefault(name, click.Group("xqueue"))},
    ):
        call()
        for path, command in commands(scratch[plugin]).items():
            out[path] = (command, dists.get(plugin))
    return out


CORE = commands(cli)
PLUGIN = plugin_commands()
ALL = {**CORE, **{path: command for path, (command, _) in PLUGIN.items()}}
FROM_PLUGIN = re.compile(r"^From the `(?P<dist>[\w.-]+)` plugin", re.MULTILINE)


def test_core_commands_are_found() -> None:
    assert {"xqueue worker", "xqueue submit", "xqueue concurrency set"} <= set(CORE)


def test_plugin_commands_say_where_they_come_from() -> None:
    docs = sections()
    for path, (_, dist) in PLUGIN.items():
        if path in CORE:
            continue
        assert path in docs, f"docs/cli.md has no section '### {path}' (from {dist})"
        said = FROM_PLUGIN.search(docs[path])
        assert said and said["dist"] == dist, f"{path}: say 'From the `{dist}` plugin'"


@pytest.mark.parametrize("path", sorted(ALL))
def test_every_command_option_and_argument(path: str) -> None:
    docs = sections()
    assert path in docs, f"docs/cli.md has no section '## {path}'"
    section = docs[path]
    synopsis = re.search(r"```text\n(.+?)\n```", section, re.DOTALL)
    assert synopsis and synopsis[1].startswith(path), f"{path}: no synopsis line"
    for param in ALL[path].params:
        if isinstance(param, click.Argument):
            metavar = param.metavar or param.name.upper()
            assert metavar.strip("[]") in synopsis[1], f"{path}: argument {metavar} missing"
            continue
        flags = [f for f in param.opts + param.secondary_opts if f != "--help"]
        if set(flags) & BACKEND:
            assert "[backend options]" in synopsis[1], f"{path}: say it takes backend options"
            continue
        for flag in flags:
            assert f"`{flag}" in section, f"{path}: option {flag} is not documented"


def test_backend_and_global_options() -> None:
    docs = sections()
    for flag in BACKEND:
        assert f"`{flag} " in docs["Conventions"], flag
    for param in cli.params:
        for flag in param.opts:
            assert f"`{flag}" in docs["Global options"], flag


def test_no_section_for_a_command_that_does_not_exist() -> None:
    """Each section is a command of the core or of an installed plugin; a section of a
    plugin that is not installed here must name its distribution, and that
    distribution must be one of this repository's plugins."""
    docs = sections()
    documented = {title for title in docs if title.startswith("xqueue ")}
    groups = {f"xqueue {name}" for name, c in cli.commands.items() if isinstance(c, click.Group)}
    assert set(ALL) <= documented, sorted(set(ALL) - documented)
    repo_plugins = {p.name for p in PLUGINS_DIR.iterdir() if (p / "pyproject.toml").exists()}
    installed = {dist for _, dist in PLUGIN.values()}
    for title in documented - groups - set(ALL):
        said = FROM_PLUGIN.search(docs[title])
        assert said, f"docs/cli.md documents {title!r}, which no installed plugin provides"
        assert said["dist"] in repo_plugins, f"{title}: {said['dist']} is not a plugin here"
        assert said["dist"] not in installed, f"{title}: {said['dist']} does not provide it"
