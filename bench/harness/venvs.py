"""The virtualenvs of the measured systems, created and filled on first use.

The peers get pinned versions; arq 0.28 requires redis-py < 6 while taskiq-redis
needs redis-py 8, so arq gets a virtualenv of its own. xqueue runs from one with
only what a user installs (``bench/requirements-xqueue.txt``), not the project's
test environment.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent
PEERS_DIR = BENCH / "peers"
MAIN = BENCH / ".venv-peers"
ARQ = BENCH / ".venv-peers-arq"
PEER_VENV = {
    "celery": MAIN,
    "dramatiq": MAIN,
    "rq": MAIN,
    "taskiq": MAIN,
    "huey": MAIN,
    "arq": ARQ,
}
XQUEUE = BENCH / ".venv-xqueue"
REQUIREMENTS = {
    MAIN: PEERS_DIR / "requirements.txt",
    ARQ: PEERS_DIR / "requirements-arq.txt",
    XQUEUE: BENCH / "requirements-xqueue.txt",
}
# what else decides a venv's contents: the editable packages' declared dependencies
DEPENDS_ON = {XQUEUE: [ROOT / "pyproject.toml", *sorted(ROOT.glob("plugins/*/pyproject.toml"))]}


def _base_python() -> str:
    """A python that can create venvs (the one behind the project's venv)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def ensure_venv(venv: Path, requirements: Path) -> None:
    """Create ``venv`` and install ``requirements`` unless it already matches them."""
    hashed = hashlib.sha256(requirements.read_bytes())
    for path in DEPENDS_ON.get(venv, []):
        hashed.update(path.read_bytes())
    digest = hashed.hexdigest()
    stamp = venv / ".bench-requirements"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"bench: installing {requirements.name} into {venv} (once)", file=sys.stderr, flush=True)
    if not (venv / "bin" / "python").exists():
        subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
            str(requirements),
        ],
        check=True,
        cwd=ROOT,  # requirements-xqueue.txt names the packages relative to the root
    )
    stamp.write_text(digest)


def ensure_peer_venvs(peers: list[str]) -> None:
    for venv in sorted({PEER_VENV[p] for p in peers}):
        ensure_venv(venv, REQUIREMENTS[venv])


def xqueue_python() -> Path:
    """The python of the xqueue rows: bench/.venv-xqueue, made on first use."""
    ensure_venv(XQUEUE, REQUIREMENTS[XQUEUE])
    return XQUEUE / "bin" / "python"
