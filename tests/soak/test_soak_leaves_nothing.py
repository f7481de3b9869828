"""A SIGKILLed soak driver leaves no process behind: its workers, Redis and Tansu die too.

The driver is killed the way pytest-timeout or ``subprocess.run(timeout=...)`` kill
it: SIGKILL to its pid alone, no ``finally`` run. Its processes are told apart from
any other on the machine (the machine's own Redis, other test runs) by a marker in
their environment, which every process the driver starts inherits, or by a working
directory in the test's own TMPDIR (redis-server writes its title over its
environment; it and Tansu run in their service's temporary directory).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from xqueue_core.testing.services import tansu_reason, wait_until

ROOT = Path(__file__).resolve().parents[2]


MARK = "SOAK_LEAK_TEST"  # not XQUEUE_*: the driver does not pass those on to workers
RUNNING = {"tansu": 1, "redis-server": 1, "xqueue worker": 3}  # the soak is running


def stat(pid: int) -> list[str]:
    """Fields 3.. of /proc/PID/stat (state, ppid, ..., start time at [19]); [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def ours(mark: str, scratch: Path) -> dict[tuple[int, str], list[str]]:
    """Live processes with ``MARK=mark`` in their environment or working in ``scratch``:
    (pid, start time) → argv."""
    wanted = f"{MARK}={mark}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cwd = Path(os.readlink(entry / "cwd"))
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        fields = stat(int(entry.name))
        if (wanted in environ or cwd.is_relative_to(scratch)) and fields and fields[0] != "Z":
            found[(int(entry.name), fields[19])] = [a for a in argv if a]
    return found


def kinds(processes: dict[tuple[int, str], list[str]]) -> dict[str, int]:
    """How many tansu, redis-server, ``xqueue worker`` and reaper processes there are."""
    counts = {"tansu": 0, "redis-server": 0, "xqueue worker": 0, "reaper": 0}
    for argv in processes.values():
        if not argv:
            continue
        program = Path(argv[0].split()[0]).name  # redis-server rewrites its title
        if program in ("tansu", "redis-server"):
            counts[program] += 1
        elif "worker" in argv and any(Path(a).name == "xqueue" for a in argv[:2]):
            counts["xqueue worker"] += 1
        elif any(a.endswith("reaper.py") for a in argv):
            counts["reaper"] += 1
    return counts


def kill_leftovers(processes: dict[tuple[int, str], list[str]]) -> None:
    for pid, born in processes:
        fields = stat(pid)
        if fields and fields[19] == born:  # still the same process, not a reused pid
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.skipif(tansu_reason() is not None, reason=str(tansu_reason()))
def test_a_sigkilled_soak_driver_leaves_no_process_behind(tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    scratch = tmp_path / "tmp"  # the driver's and its services' work directories
    scratch.mkdir()
    env = {
        **os.environ,
        "XQUEUE_VENV": str(Path(sys.executable).parents[1]),
        MARK: mark,
        "TMPDIR": str(scratch),
    }
    argv = [str(ROOT / "soak" / "run"), "--seconds", "30", "--backend", "kafka"]
    argv += ["--no-mqtt", "--kafka-every", "3", "6", "--republish-after", "2"]
    argv += ["--redis-every", "30", "40", "--kill-every", "2", "4", "--rate", "20"]
    argv += ["--results", str(tmp_path / "results")]
    log = tmp_path / "driver.log"
    seen: dict[tuple[int, str], list[str]] = {}
    with log.open("wb") as out:
        driver = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:

        def running() -> bool:
            assert driver.poll() is None, f"the driver exited:\n{log.read_text()[-3000:]}"
            now = ours(mark, scratch)
            seen.update(now)
            counts = kinds(now)
            return all(counts[kind] >= n for kind, n in RUNNING.items())

        wait_until(running, 120, "the soak's Tansu, Redis and three workers")

        def restarted() -> bool:  # into the run: the new processes are watched too
            counts = kinds(seen)
            return running() and counts["xqueue worker"] > 3 and counts["tansu"] > 1

        wait_until(restarted, 120, "a worker and Tansu to be killed and started again")
        assert kinds(seen)["reaper"] == 1, seen
        os.kill(driver.pid, signal.SIGKILL)  # the driver only, as a timeout would
        driver.wait(10)
        seen.update(ours(mark, scratch))
        give_up = time.monotonic() + 10
        while ours(mark, scratch) and time.monotonic() < give_up:
            time.sleep(0.1)
        left = ours(mark, scratch)
        assert not left, f"left running after the driver was killed: {list(left.values())}"
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait(10)
        kill_leftovers({**seen, **ours(mark, scratch)})
