"""Worker processes for benchmarks and the soak: started, measured and stopped one way.

Every command runs in a session of its own (so its whole group can be signalled,
SIGKILL included), writes its output to a log file, and is registered with
:mod:`reaper`, which kills the group if the starting process ends first. A stop is
SIGTERM (a graceful shutdown), then SIGKILL to whatever of the process tree is
left after a grace period, children in groups of their own included (xqueue's
supervisor puts each worker process in its own group).

Standard library only: the bench's peer drivers load this file by path in
virtualenvs that do not have xqueue (``bench/harness/common.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    from . import reaper
except ImportError:  # loaded by file path, outside the package: its neighbour by path too
    import importlib.util

    _spec = importlib.util.spec_from_file_location(
        "xqueue_reaper", Path(__file__).with_name("reaper.py")
    )
    assert _spec is not None and _spec.loader is not None
    reaper = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(reaper)


def xqueue_command(*args: str) -> list[str]:
    """argv of the ``xqueue`` command of this interpreter's environment."""
    return [str(Path(sys.executable).parent / "xqueue"), *args]


def xqueue_env(pythonpath: Iterable[str | Path] = (), **settings: str) -> dict[str, str]:
    """This process's environment for an ``xqueue`` child: no ``XQUEUE_*`` of its own,
    ``settings`` as ``XQUEUE_<NAME>`` (``broker="redis://..."`` is ``XQUEUE_BROKER``),
    ``pythonpath`` ahead of ``PYTHONPATH``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XQUEUE_")}
    env.update({f"XQUEUE_{name.upper()}": value for name, value in settings.items()})
    paths = [str(p) for p in pythonpath]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])
    return env


def start(
    argv: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> subprocess.Popen[bytes]:
    """``argv`` in a session of its own, stdout and stderr appended to ``log``,
    watched by the reaper until :func:`stop` or :func:`kill`."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            env=None if env is None else dict(env),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    reaper.watch(proc.pid)
    return proc


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process's group, as a crash would; wait for it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(10)
    reaper.forget(proc.pid)


def stop(procs: Sequence[subprocess.Popen[bytes]], grace: float = 30.0) -> None:
    """SIGTERM every process's group, then SIGKILL whatever is left of their trees
    after ``grace`` seconds; wait for them."""
    roots = [p.pid for p in procs]
    pids = tree_pids(roots)
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    give_up = time.monotonic() + grace
    while tree_pids(roots) and time.monotonic() < give_up:
        time.sleep(0.05)
    for pid in {*pids, *tree_pids(roots)}:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            continue  # still registered: the reaper kills its group when this process ends
        reaper.forget(proc.pid)


def tail(paths: Iterable[Path], lines: int = 15) -> str:
    """The last ``lines`` lines of each log file that exists."""
    out = []
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        out.append("\n".join(text.splitlines()[-lines:]))
    return "\n".join(out)


class Processes:
    """Commands started together (one log file each, ``{name}-{i}.log`` in ``log_dir``),
    measured and stopped together."""

    def __init__(
        self,
        commands: Sequence[Sequence[str]],
        env: Mapping[str, str] | None,
        log_dir: Path,
        cwd: str | Path | None = None,
        name: str = "worker",
    ) -> None:
        self.commands = [list(c) for c in commands]
        self.env = env
        self.cwd = cwd
        self.logs = [log_dir / f"{name}-{os.getpid()}-{i}.log" for i in range(len(commands))]
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> Processes:
        for argv, log in zip(self.commands, self.logs, strict=True):
            self.procs.append(start(argv, log, self.env, self.cwd))
        return self

    def check_alive(self) -> None:
        """Raise RuntimeError, with the end of the logs, if a command has exited."""
        for argv, proc in zip(self.commands, self.procs, strict=False):
            if proc.poll() is not None:
                raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}: {self.tail()}")

    def tail(self, lines: int = 15) -> str:
        return tail(self.logs, lines)

    def pids(self) -> list[int]:
        """Every live process the commands started, the commands' own included."""
        return tree_pids([p.pid for p in self.procs])

    def memory(self) -> dict[str, Any]:
        """RSS of the whole tree: the total, and each process's RSS, PSS and command."""
        per_process = [
            {"pid": pid, "rss": rss_bytes(pid), "pss": pss_bytes(pid), "command": command_line(pid)}
            for pid in self.pids()
        ]
        pss = [p["pss"] for p in per_process]
        return {
            "bytes": sum(p["rss"] for p in per_process),
            "processes": len(per_process),
            "pss_bytes": None if None in pss else sum(pss),
            "per_process": per_process,
        }

    def stop(self, grace: float = 30.0) -> None:
        stop(self.procs, grace)
        self.procs = []

    def __enter__(self) -> Processes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- /proc ------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def tree_pids(roots: Sequence[int]) -> list[int]:
    """The live processes in the trees under ``roots`` (roots included, zombies not),
    followed by parent pid: children may sit in process groups of their own."""
    children: dict[int, list[int]] = {}
    live: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields and fields[0] != "Z":
            live.add(int(entry))
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [r for r in roots if r in live]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pss_bytes(pid: int) -> int | None:
    """Proportional set size of one process (None if the kernel does not say)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def command_line(pid: int, limit: int = 160) -> str:
    """The command line of a process, shortened ('' if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:limit]


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (0 if it is gone)."""
    fields = _stat_fields(pid)
    if not fields:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
