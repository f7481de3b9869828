"""Schemathesis against the OpenAPI document: no 5xx, no answer outside the schema.

Every check runs except ``use_after_free``: DELETE cancels a task (as in the seed
API), so the task is still there afterwards, with status ``canceled``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.http.http_helpers import LIMITS, HttpServer

EXAMPLES = os.environ.get("XQUEUE_SCHEMATHESIS_EXAMPLES", "25")
SEED = os.environ.get("XQUEUE_SCHEMATHESIS_SEED", "20261129")
HERE = Path(__file__).resolve().parent


# A schedule's cron expression and time zone are checked by cronsim and zoneinfo, which
# no JSON schema can say: a generated "cron" is almost never one, so a refused add is
# not a finding there (every other check still runs on these operations).
CONFIG = """
# every check but use_after_free (set here: CLI check options would win over the
# per-operation settings below)
checks.enabled = true
checks.use_after_free.enabled = false

# A submit's depends_on must name tasks in the store, which no JSON schema can say: a
# valid submit refused for that alone (tests/http/schemathesis_hooks.py) is not a finding.
hooks = "schemathesis_hooks"

[[operations]]
include-operation-id = "addSchedule"
checks.positive_data_acceptance.enabled = false

[[operations]]
include-operation-id = "updateSchedule"
checks.positive_data_acceptance.enabled = false

# A graph is checked by the core for cycles, edges naming known nodes and registered
# types: a generated graph is almost never a valid one.
[[operations]]
include-operation-id = "createWorkflow"
checks.positive_data_acceptance.enabled = false
"""


def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    server = HttpServer(tmp_path, "api", env=LIMITS).start()  # no workers: nothing runs
    try:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(tmp_path / "schemathesis.toml"),
                "run",
                f"{server.api}/openapi.json",
                "--max-examples",
                EXAMPLES,
                "--seed",
                SEED,
                # the two event streams never end by themselves
                "--exclude-path-regex",
                "events$",
                "--generation-database",
                "none",
                "--request-timeout",
                "10",
                "--no-color",
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(HERE)},
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        server.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Tested: 30" in output, output[-3000:]  # every operation but the two streams
    assert "Traceback" not in server.text()
