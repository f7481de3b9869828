"""pytest fixtures for xqueue tests (enable with ``pytest_plugins``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh embedded-backend URL in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'xqueue.db'}"


@pytest.fixture
def no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Load no entry-point plugins (tests register the ones they need)."""
    monkeypatch.setenv("XQUEUE_LOAD_PLUGINS", "")
    yield
