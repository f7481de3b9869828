"""docs/settings.md documents every setting with its real default, env var and TOML form."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from typing import Any

import pytest

from tests.docs.docblocks import DOCS
from xqueue_core import Settings
from xqueue_core.settings import setting_names

PAGE = DOCS / "settings.md"
SECTION = re.compile(r"^### `(?P<name>[a-z_]+)`\n\n(?P<line>[^\n]+)", re.MULTILINE)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def documented() -> dict[str, str]:
    found: dict[str, str] = {}
    for match in SECTION.finditer(PAGE.read_text()):
        assert match["name"] not in found, f"{match['name']} documented twice"
        found[match["name"]] = match["line"]
    return found


DEFAULTS = Settings()


def test_every_setting_and_only_those() -> None:
    names = set(setting_names())
    assert names == {f.name for f in dataclasses.fields(Settings)} - {"extras"}
    docs = set(documented())
    assert not names - docs, f"settings missing from docs/settings.md: {sorted(names - docs)}"
    assert not docs - names, f"docs/settings.md documents unknown settings: {sorted(docs - names)}"


@pytest.mark.parametrize("name", setting_names())
def test_default_env_and_toml(name: str) -> None:
    line = documented().get(name)
    assert line is not None, f"no section '### `{name}`'"
    value = toml_value(getattr(DEFAULTS, name))
    assert f"Default `{value}`" in line, f"{name}: default should read `{value}`: {line}"
    assert f"environment `XQUEUE_{name.upper()}`" in line, line
    toml = f"{name} = {value}"
    assert f"TOML `{toml}`" in line, f"{name}: TOML form should read `{toml}`: {line}"
    assert tomllib.loads(toml)[name] == _as_toml_type(getattr(DEFAULTS, name))


def _as_toml_type(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
