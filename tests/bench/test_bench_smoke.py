"""Smoke tests of bench/: the harness in a tiny mode (the soaks are in tests/soak).

They check that the commands run and report what they must, never how fast:
benchmarks report numbers, tests assert behaviour.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripts import ENV, ROOT, only_json


@pytest.mark.slow
def test_harness_tiny_run_reports_every_workload(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            str(ROOT / "bench" / "run"),
            "--n",
            "200",
            "--latency-n",
            "20",
            "--only",
            "xqueue-embedded",
            "--no-peers",
            "--results",
            str(tmp_path),
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,  # the first run also makes bench/.venv-xqueue (~15 s)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "xqueue-embedded" in proc.stdout and "Ratios to the best peer" in proc.stdout
    data = only_json(tmp_path, "bench")
    (result,) = data["results"]
    assert result["system"] == "xqueue-embedded"
    assert result["errors"] == {}
    for workload in ("noop", "sleep"):
        assert result[workload]["done"] == 200 and result[workload]["complete"]
        # None when the batch finished between two polls (too small to time)
        assert result[workload]["rate"] is None or result[workload]["rate"] > 0
    assert result["noop"]["enqueue_rate"] > 0
    assert 0 < result["latency"]["p50"] <= result["latency"]["p90"] <= result["latency"]["p99"]
    assert result["rss"]["bytes"] > 0 and result["rss"]["processes"] >= 2
    per_process = result["rss"]["per_process"]
    assert len(per_process) == result["rss"]["processes"]
    assert sum(p["rss"] for p in per_process) == result["rss"]["bytes"]
    assert all(p["command"] and p["pss"] <= p["rss"] for p in per_process)
    for workload in ("noop", "sleep"):
        cpu = result[workload]["cpu"]
        if cpu is None:  # no clock tick between the first and the last completion
            assert result[workload]["rate"] is None
            continue
        assert cpu["of_pct"] == 100 * os.cpu_count() and 0 <= cpu["busy_pct"] <= cpu["of_pct"] + 1
        assert cpu["workers_pct"] >= 0
    assert "cpu: how busy the whole machine was" in proc.stdout
    assert data["machine"]["cores"] == os.cpu_count()


@pytest.mark.slow
def test_workflows_tiny_run_reports_xqueue_and_celery(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            str(Path(ENV["XQUEUE_VENV"]) / "bin" / "python"),
            str(ROOT / "bench" / "workflows.py"),
            "--members",
            "200",
            "--out",
            str(tmp_path),
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,  # the first run also makes bench/.venv-peers (~30 s)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "chord tasks/s, xqueue over Celery (same run):" in proc.stdout
    data = only_json(tmp_path, "workflows")
    results = data["results"]
    assert set(results) == {"sqlite", "redis", "celery"}
    for name, result in results.items():
        assert result["complete"], (name, result["runs"])
        runs = {r["run"]: r for r in result["runs"]}
        assert runs["independent"]["done"] == 200 and runs["chord"]["done"] == 201
        ratio = result["summary"]["chord"]["ratio"]
        assert ratio is None or ratio > 0  # None: too fast to time
    assert {r["run"]: r["callback_results"] for r in results["celery"]["runs"]}["chord"] == 200
    assert set(results["celery"]["xqueue_chord_over_celery_chord"]) == {"sqlite", "redis"}


def run_bench(tmp_path: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--out", str(tmp_path)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_flow_tiny_run_reports_every_limit_run(tmp_path: Path) -> None:
    proc = run_bench(tmp_path, "flow.py", "--store", "sqlite", "--tasks", "300", "--keys", "10")
    summary = only_json(tmp_path, "flow")["results"]["sqlite"]["summary"]
    assert set(summary) == {"off", "on", "on+type", "binding", "rated"}
    assert all(run["complete"] and run["rate"] > 0 for run in summary.values())
    assert summary["off"]["ratio_to_off"] == 1.0
    assert "binding" in proc.stdout and "/off" in proc.stdout


@pytest.mark.slow
def test_schedules_tiny_run_fires_each_schedule_once(tmp_path: Path) -> None:
    args = ["--store", "sqlite", "--schedules", "20", "--every", "15", "--window", "15"]
    proc = run_bench(tmp_path, "schedules.py", *args, "--tasks", "300")
    result = only_json(tmp_path, "schedules")["results"]["sqlite"]
    ticker = result["ticker"]
    assert ticker["fired"] == 20 and ticker["fired_once"] is True
    assert ticker["quiet_calls_per_ticker_s"] > 0
    assert set(result["summary"]) >= {"off", "on", "ratio_on_off"}
    assert "store calls per ticker per second" in proc.stdout
