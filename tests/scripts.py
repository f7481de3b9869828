"""What the tests of bench/ and soak/ share: where the checkout is, the environment
their scripts run with, and how to read the one JSON result a run writes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "XQUEUE_VENV": str(Path(sys.executable).parents[1])}


def only_json(directory: Path, prefix: str) -> dict[str, Any]:
    """The one ``<prefix>-*.json`` result in ``directory``."""
    files = sorted(directory.glob(f"{prefix}-*.json"))
    assert len(files) == 1, f"expected one {prefix} result in {directory}, found {files}"
    data: dict[str, Any] = json.loads(files[0].read_text())
    return data
