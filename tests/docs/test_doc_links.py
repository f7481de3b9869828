"""Links between the docs pages (and from the handler package README) resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.docblocks import DOCS

MINE = [
    "index.md",
    "quickstart.md",
    "concepts.md",
    "plugins.md",
    "plugin_hooks.md",
    "writing_plugins.md",
    "operations.md",
    "settings.md",
    "cli.md",
]
# Written by the engineers of each plugin; linked to before they exist.
PLUGIN_PAGES = {"redis.md", "redis_streams.md", "kafka.md", "mqtt.md", "http.md"}
LINK = re.compile(r"\[[^\]]+\]\((?P<target>[^)\s]+)\)")
FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    text = FENCED.sub("", path.read_text())
    out = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def links(path: Path) -> list[tuple[str, str]]:
    text = FENCED.sub("", path.read_text())
    out = []
    for match in LINK.finditer(text):
        target = match["target"]
        if "://" in target or target.startswith("mailto:"):
            continue
        file, _, anchor = target.partition("#")
        out.append((file, anchor))
    return out


@pytest.mark.parametrize("page", [*MINE, "../examples/handlers_pkg/README.md"])
def test_links_resolve(page: str) -> None:
    source = (DOCS / page).resolve()
    assert source.exists(), page
    for file, anchor in links(source):
        target = (source.parent / file).resolve() if file else source
        if target.name in PLUGIN_PAGES and not target.exists():
            continue
        assert target.exists(), f"{page}: link to missing {file}"
        if anchor and target.suffix == ".md":
            assert anchor in anchors(target), f"{page}: no heading #{anchor} in {target.name}"


def test_index_links_every_page() -> None:
    linked = {file for file, _ in links(DOCS / "index.md")}
    expected = (set(MINE) | PLUGIN_PAGES) - {"index.md"}
    assert expected <= linked, sorted(expected - linked)
    others = {p.name for p in DOCS.glob("*.md")} - linked - {"index.md"}
    assert not others, f"docs pages not linked from index.md: {sorted(others)}"
