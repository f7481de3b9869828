"""What worker processes load: a supervisor without the app, workers without rich.

Memory itself is not asserted (it depends on the machine); what is loaded is, from
``/proc/PID/maps`` (extension modules are shared libraries) or a fresh interpreter.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.processes.core_helpers import Env, descendants
from xqueue_core.cli.main import _command_name
from xqueue_core.logs import LineLogger


def mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def fresh(code: str) -> list[str]:
    """Run ``code`` in a new interpreter; its printed lines."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_supervisor_loads_neither_the_app_nor_asyncio(xenv: Env) -> None:
    supervisor = xenv.worker("--processes", "2", "--concurrency", "1").wait_started(count=2)
    try:
        workers = descendants(supervisor.pid)
        assert len(workers) == 2
        cmdline = Path(f"/proc/{supervisor.pid}/cmdline").read_bytes().split(b"\0")
        assert b"xqueue_core.cli.supervisor" in cmdline  # the same pid, a fresh interpreter
        assert "_asyncio" not in mapped(supervisor.pid)
        assert "_sqlite3" not in mapped(supervisor.pid)
        for pid in workers:
            assert "_asyncio" in mapped(pid) and "_sqlite3" in mapped(pid)
            assert b"xqueue_core.cli.worker_process" in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert "worker processes started" in supervisor.text()
    finally:
        supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(30) == 0
    assert supervisor.text().count("worker stopped") == 2


def test_the_supervisor_module_imports_neither_subprocess_nor_typing() -> None:
    # ~2.5 MB of a process that only starts, restarts and signals workers
    code = (
        "import sys, xqueue_core.cli.supervisor;"
        "print([m for m in ('subprocess', 'typing', 'ctypes') if m in sys.modules])"
    )
    assert fresh(code) == ["[]"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["xqt_app:nope"], "error: module 'xqt_app' has no attribute 'nope'"),
        (["xqt_app:app", "--types", "sleep,nope"], "error: no handler for type(s) nope"),
        (["xqt_app:app", "--concurrency", "0"], "--concurrency/-c: 0 is smaller than 1"),
    ],
)
def test_a_worker_process_reports_user_errors_with_exit_2(
    xenv: Env, args: list[str], message: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "xqueue_core.cli.worker_process", *args],
        env=xenv.vars,
        cwd=xenv.dir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_the_cli_imports_structlog_without_rich_but_leaves_rich_importable() -> None:
    pytest.importorskip("rich")  # the test environment has it (schemathesis needs it)
    code = (
        "import sys, xqueue_core.cli.main, structlog.dev;"
        "print('rich' in sys.modules, structlog.dev.rich is None);"
        "import rich.console; print('rich' in sys.modules)"
    )
    assert fresh(code) == ["False", "True", "True"]


def test_importing_the_package_loads_the_api_on_first_use() -> None:
    code = (
        "import sys, xqueue_core; print('asyncio' in sys.modules, 'structlog' in sys.modules);"
        "from xqueue_core import *; print(XQueue.__module__, hookimpl.project_name);"
        "g = globals(); print(all(n in g for n in xqueue_core.__all__))"
    )
    assert fresh(code) == ["False", "False", "xqueue_core.app", "xqueue", "True"]
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        import xqueue_core

        xqueue_core.Nope  # noqa: B018


def test_a_core_command_skips_the_plugin_commands() -> None:
    assert _command_name(["worker", "app:app", "--processes", "1"]) == "worker"
    assert _command_name(["--log-level", "debug", "--log-format=json", "stats"]) == "stats"
    assert _command_name(["--log-format", "json", "serve"]) == "serve"
    assert _command_name(["--help"]) is None


def test_the_supervisor_log_lines_match_the_configured_format(
    capsys: pytest.CaptureFixture[str],
) -> None:
    LineLogger("info", "console").info("worker processes started", processes=2, pids=[7, 8])
    LineLogger("info", "json").warning("worker process exited", pid=7, exit_code=-9)
    LineLogger("warning", "console").info("not shown")
    console, json_line = capsys.readouterr().err.splitlines()
    stamp, rest = console.split(" ", 1)
    assert stamp.endswith("Z") and len(stamp) == len("2026-01-01T00:00:00.000000Z")
    assert rest == "[info     ] worker processes started       pids=[7, 8] processes=2"
    record = orjson.loads(json_line)
    assert {k: v for k, v in record.items() if k != "timestamp"} == {
        "pid": 7,
        "exit_code": -9,
        "event": "worker process exited",
        "level": "warning",
    }
