"""The contract suites against the embedded SQLite backend."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from xqueue_core.testing.contracts import (
    BrokerContract,
    PublishFaultContract,
    StoreContract,
)
from xqueue_core.testing.state_machine import make_store_machine


class TestSqliteStore(StoreContract):
    autoload_plugins = False

    @pytest.fixture
    def store_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestSqliteBroker(BrokerContract):
    autoload_plugins = False

    @pytest.fixture
    def broker_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestSqlitePublishFaults(PublishFaultContract):
    autoload_plugins = False

    @pytest.fixture
    def broker_url(self, sqlite_url: str) -> str:
        return sqlite_url

    @pytest.fixture
    def store_url(self, sqlite_url: str) -> str:
        return sqlite_url


def _fresh_url() -> str:
    return f"sqlite:///{Path(tempfile.mkdtemp(prefix='xqueue-sm-')) / 'x.db'}"


TestSqliteLifecycle = make_store_machine(_fresh_url, autoload_plugins=False)
