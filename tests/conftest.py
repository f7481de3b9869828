"""Shared test set-up: the xqueue contract fixtures, no plugin autoloading unless asked.

In-process code finds no entry-point plugin: the built-in backends and the plugins a
test registers itself (``XQueue(plugins=[...])``, ``Plugins(autoload=False, extra=[...])``)
are all there is, whatever is installed in the environment (datasette's
``tests/conftest.py``). A test that means real discovery says so with
``@pytest.mark.autoload_plugins``. Processes a test starts (workers, the CLI) are not
touched: they find the real entry points, narrowed by ``XQUEUE_LOAD_PLUGINS``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

import xqueue_core.plugins
from xqueue_core.entry_points import EntryPoint

pytest_plugins = ["xqueue_core.testing.pytest_plugin"]

AUTOLOAD_MARKER = "autoload_plugins"


def _no_entry_points(group: str, path: Iterable[str] | None = None) -> list[EntryPoint]:
    """What discovery sees in a test without the marker: no installed plugin."""
    return []


@pytest.fixture(autouse=True)
def _no_plugin_autoloading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entry-point discovery in this process finds nothing, unless the test is marked
    ``autoload_plugins``."""
    if request.node.get_closest_marker(AUTOLOAD_MARKER) is None:
        monkeypatch.setattr(xqueue_core.plugins, "entry_points", _no_entry_points)
