"""The runnable blocks of the docs really run (see ``docblocks`` for the markers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.docblocks import DOCS, PageRun, blocks, clean_env, runnable

PAGES = sorted(p.name for p in DOCS.glob("*.md") if runnable(p.name))


def test_quickstart_is_covered() -> None:
    """The quick start keeps its runnable blocks (a lost marker would go unnoticed)."""
    found = runnable("quickstart.md")
    assert len(found) >= 8, [b.where for b in found]
    assert any("background" in (b.options or {}) for b in found)


def test_markers_are_parsed() -> None:
    text = (
        'intro\n\n<!-- runnable: exit=2 expect="a b" -->\n```bash\nfalse\n```\n\n'
        "```python\nprint(1)\n```\n<!-- runnable -->\n\n    ```python\n    x = 1\n    ```\n"
    )
    found = blocks(text, "t.md")
    assert [(b.lang, b.code, b.options) for b in found] == [
        ("bash", "false\n", {"exit": "2", "expect": "a b"}),
        ("python", "print(1)\n", None),
        ("python", "x = 1\n", {}),
    ]


@pytest.mark.parametrize("page", PAGES)
def test_page_runs(page: str, tmp_path: Path) -> None:
    run = PageRun(tmp_path, clean_env(tmp_path))
    try:
        for block in runnable(page):
            run.run(block)
    finally:
        run.stop()
