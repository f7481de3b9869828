"""docs/cli.md documents every core command with every option and argument."""

from __future__ import annotations

import re

import click
import pytest
from docblocks import DOCS

from xqueue_core.cli.common import BACKEND_OPTION_NAMES
from xqueue_core.cli.main import cli

PAGE = DOCS / "cli.md"
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


CORE = commands(cli)


def test_core_commands_are_found() -> None:
    assert {"xqueue worker", "xqueue submit", "xqueue concurrency set"} <= set(CORE)


@pytest.mark.parametrize("path", sorted(CORE))
def test_every_command_option_and_argument(path: str) -> None:
    docs = sections()
    assert path in docs, f"docs/cli.md has no section '## {path}'"
    section = docs[path]
    synopsis = re.search(r"```text\n(.+?)\n```", section, re.DOTALL)
    assert synopsis and synopsis[1].startswith(path), f"{path}: no synopsis line"
    for param in CORE[path].params:
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
    documented = {title for title in sections() if title.startswith("xqueue ")}
    groups = {f"xqueue {name}" for name, c in cli.commands.items() if isinstance(c, click.Group)}
    assert documented - groups == set(CORE), sorted(documented ^ set(CORE))
