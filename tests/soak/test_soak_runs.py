"""Short soaks (soak/run) with faults: every invariant holds, nothing is lost or left running."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.scripts import ENV, ROOT, only_json

# Each soak stops itself long before this; the pytest timeout of its test is longer,
# so a soak that hangs fails with its own output instead of being killed mid-run.
SOAK_TIMEOUT = 300


@pytest.mark.slow
@pytest.mark.timeout(SOAK_TIMEOUT + 30)
def test_short_soak_on_the_embedded_backend_holds_every_invariant(tmp_path: Path) -> None:
    data = run_soak(
        tmp_path,
        120,
        "--seconds",
        "8",
        "--backend",
        "sqlite",
        "--kill-every",
        "1.5",
        "3",
        "--rate",
        "20",
    )
    assert data["ok"] is True
    failed = [i for i in data["invariants"] if i["ok"] is False]
    assert failed == []
    names = {i["name"] for i in data["invariants"]}
    assert {
        "accepted tasks lost (record gone)",
        "starts above the type's limit in force",
        "duplicate runs while the first run's worker was alive",
        "concurrency tokens held after the run (leaks)",
    } <= names
    facts = data["facts"]
    assert facts["submitted"] > 50
    assert facts["workers_killed"] >= 1
    assert sum(facts["terminal_states"].values()) == facts["submitted"]


@pytest.mark.slow
@pytest.mark.timeout(SOAK_TIMEOUT + 30)
def test_short_soak_restarting_mosquitto_and_redis_holds_every_invariant(tmp_path: Path) -> None:
    """The MQTT path: workers and the submitter publish through xqueue-mqtt while
    mosquitto is killed, kept down and started again (and Redis restarted)."""
    data = run_soak(
        tmp_path,
        300,
        "--seconds",
        "12",
        "--backend",
        "redis",
        "--mqtt",
        "--mqtt-every",
        "2",
        "4",
        "--mqtt-down",
        "0.5",
        "1.5",
        "--redis-every",
        "4",
        "8",
        "--kill-every",
        "1.5",
        "3",
        "--rate",
        "20",
    )
    assert [i for i in data["invariants"] if i["ok"] is False] == []
    invariants = {i["name"]: i for i in data["invariants"]}
    facts = data["facts"]
    assert facts["mosquitto restarts (kill -9, down a while)"] >= 1
    assert facts["mqtt_outages"] >= 1
    assert facts["Redis restarts (kill -9, AOF)"] >= 1
    assert facts["workers_killed"] >= 1
    assert facts["mqtt driver notifier: connects"] >= 2  # it reconnected after a kill
    assert "mqtt notifier intermediate events dropped (driver + worker logs)" in facts
    assert invariants["retained final status contradicting the store"]["ok"] is True
    guaranteed = invariants["guaranteed final statuses mosquitto does not hold"]
    assert guaranteed["ok"] is True
    missing, checked = (int(n) for n in guaranteed["value"].split(" of "))
    assert missing == 0 and checked > 0, guaranteed
    assert invariants["tasks finished while mosquitto was down"]["ok"] is not False
    assert sum(facts["terminal_states"].values()) == facts["submitted"]


@pytest.mark.slow
@pytest.mark.timeout(SOAK_TIMEOUT + 30)
def test_short_soak_restarting_tansu_loses_nothing(tmp_path: Path) -> None:
    """The Kafka path: Tansu (memory storage) comes back empty after each kill -9;
    republish_after publishes again what it lost, and nothing is lost."""
    data = run_soak(
        tmp_path,
        300,
        "--seconds",
        "14",
        "--backend",
        "kafka",
        "--no-mqtt",
        "--kafka-every",
        "3",
        "6",
        "--republish-after",
        "2",
        "--redis-every",
        "30",
        "40",
        "--kill-every",
        "2",
        "4",
        "--rate",
        "20",
    )
    assert [i for i in data["invariants"] if i["ok"] is False] == []
    facts = data["facts"]
    assert facts["Tansu restarts (kill -9, memory storage: comes back empty)"] >= 2
    assert facts["workers_killed"] >= 1
    assert sum(facts["terminal_states"].values()) == facts["submitted"]


def run_soak(tmp_path: Path, timeout: float, *args: str) -> dict[str, Any]:
    """Run a short ``soak/run`` with ``args``; assert it held; its JSON report."""
    assert timeout <= SOAK_TIMEOUT, "the test's own timeout must outlast the soak's"
    proc = subprocess.run(
        [str(ROOT / "soak" / "run"), *args, "--results", str(tmp_path)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert "RESULT: all invariants hold" in proc.stdout
    data: dict[str, Any] = only_json(tmp_path, "soak")
    return data
