"""Fixtures for the HTTP tests: real ``xqueue serve``/``xqueue api`` processes on free ports."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.http.http_helpers import LIMITS, HttpServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """``xqueue serve examples.app:app`` (API and one worker process) for a test module."""
    workdir = tmp_path_factory.mktemp("serve")
    srv = HttpServer(workdir, "serve", args=["--concurrency", "4"], env=LIMITS).start()
    srv.wait_workers()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(server: HttpServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c
