"""The bench report's ratios, from results shaped as bench/run writes them (no run)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from harness import report

MB = 2**20


def tree(system: str, *sizes_mb: float) -> dict[str, Any]:
    per_process = [{"rss": int(s * MB), "pss": int(s * MB / 2), "command": "x"} for s in sizes_mb]
    total = sum(p["rss"] for p in per_process)
    return {"system": system, "rss": {"bytes": total, "processes": len(sizes_mb),
                                      "per_process": per_process}}  # fmt: skip


def test_the_tree_and_its_largest_process_are_compared_with_the_leanest_peer() -> None:
    results = [
        tree("arq", 30.5, 30.6),
        tree("huey", 36.0, 28.0, 28.0, 28.0),
        tree("xqueue-redis", 10.6, 29.4, 29.3),
    ]
    rat = report.ratios(results, None)["xqueue-redis"]
    assert rat["rss"]["best_peer"] == "arq" and rat["rss"]["met"] is False
    largest = rat["rss_largest_process"]
    assert (largest["best_peer"], largest["xqueue"], largest["peer"]) == (
        "arq", int(29.4 * MB), int(30.6 * MB),
    )  # fmt: skip
    text = report.ratio_text({"xqueue-redis": rat}, None)
    assert "largest process of the worker tree: 29.4 MB vs arq 30.6 MB" in text


def test_no_per_process_sizes_no_line() -> None:
    results = [{"system": "arq", "rss": {"bytes": 1}}, tree("xqueue-redis", 10.0, 20.0)]
    assert "rss_largest_process" not in report.ratios(results, None)["xqueue-redis"]
