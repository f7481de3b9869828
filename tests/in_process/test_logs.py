"""xqueue's loggers never configure structlog: they follow the program's configuration,
and show INFO and above (no debug lines) until the program makes one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from xqueue_core import XQueue
from xqueue_core.logs import get_logger


@pytest.fixture
def unconfigured() -> Iterator[None]:
    saved = structlog.get_config()
    was = structlog.is_configured()
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.reset_defaults()
        if was:
            structlog.configure(**saved)


def test_a_library_user_sees_info_not_debug_and_structlog_stays_unconfigured(
    unconfigured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    XQueue(autoload_plugins=False)
    log = get_logger("xqueue.test")
    log.debug("hidden detail")
    log.info("shown line", n=1)
    assert not structlog.is_configured()
    out = capsys.readouterr().out
    assert "shown line" in out and "hidden detail" not in out


def test_the_programs_configuration_wins_once_made(unconfigured: None) -> None:
    log = get_logger("xqueue.test")
    log.info("before")  # resolved while unconfigured
    with structlog.testing.capture_logs() as logs:  # configures structlog meanwhile
        log.debug("after", n=2)
    assert logs == [{"event": "after", "n": 2, "log_level": "debug"}]
