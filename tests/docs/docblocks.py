"""Find and run the code blocks of a docs page that are marked runnable.

A fenced block runs when the line just before it is an HTML comment (invisible
on the rendered page)::

    <!-- runnable -->                       run it; it must exit 0
    <!-- runnable: file=tasks.py -->        write it to tasks.py (nothing runs)
    <!-- runnable: background ready="worker started" -->
                                            start it, wait for the text in its output;
                                            it gets SIGTERM when the page is done
    <!-- runnable: exit=1 expect="failed" -->
                                            expected exit code / text in its output
    <!-- runnable: install=DIR -->          a ``pip install -e DIR`` block: simulated
                                            by writing the distribution's metadata
                                            (entry points) into DIR, put on PYTHONPATH;
                                            its xqueue entry points join the allow-list

``python`` blocks run with the test's interpreter, ``bash``/``sh`` blocks with
bash; both in one temporary directory per page, in page order, with the
interpreter's ``bin`` first on ``PATH`` (so ``xqueue`` is the one under test).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from xqueue_core.testing import reaper

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>[^`]*)$")
MARKER = re.compile(r"^\s*<!--\s*runnable(?::(?P<options>.*?))?\s*-->\s*$")


@dataclass
class Block:
    """One fenced code block of a page."""

    page: str
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    options: dict[str, str] | None = None  # None: not runnable

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(text: str, page: str = "<page>") -> list[Block]:
    """Every fenced block of a markdown text, with its runnable options if marked."""
    lines = text.splitlines()
    out: list[Block] = []
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        lang = (match["info"].strip().split() or [""])[0]
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        options = None
        previous = start - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        marker = MARKER.match(lines[previous]) if previous >= 0 else None
        if marker:
            options = parse_options(marker["options"] or "")
        out.append(Block(page, start + 1, lang, "\n".join(body) + "\n", options))
        index += 1
    return out


def parse_options(text: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for token in shlex.split(text):
        key, _, value = token.partition("=")
        options[key] = value
    return options


def runnable(page: str) -> list[Block]:
    path = DOCS / page
    return [b for b in blocks(path.read_text(), page) if b.options is not None]


def clean_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of a docs run: no inherited XQUEUE_* settings, no entry-point
    plugins but those the page installs (or names itself), the test's interpreter
    first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XQUEUE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(workdir)
    env["XQUEUE_LOAD_PLUGINS"] = ""
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


@dataclass
class PageRun:
    """Runs a page's runnable blocks in order in ``workdir``."""

    workdir: Path
    env: dict[str, str]
    background: list[tuple[Block, subprocess.Popen[str], Path]] = field(default_factory=list)

    def command(self, block: Block) -> list[str]:
        if block.lang == "python":
            script = self.workdir / f"_block_{block.line}.py"
            script.write_text(block.code)
            return [sys.executable, script.name]
        if block.lang in ("bash", "sh", "shell", "console"):
            return ["bash", "-euo", "pipefail", "-c", block.code]
        raise AssertionError(f"{block.where}: cannot run a {block.lang!r} block")

    def run(self, block: Block) -> None:
        options = block.options or {}
        if "file" in options:
            target = self.workdir / options["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code)
            return
        if "install" in options:
            project = (self.workdir / options["install"]).resolve()
            names = simulate_install(project)
            self.env["PYTHONPATH"] += os.pathsep + str(project)
            allowed = [n for n in self.env.get("XQUEUE_LOAD_PLUGINS", "").split(",") if n]
            self.env["XQUEUE_LOAD_PLUGINS"] = ",".join(allowed + names)
            return
        if "background" in options:
            self.start(block)
            return
        proc = subprocess.run(
            self.command(block),
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=float(options.get("timeout", 60)),
        )
        output = proc.stdout + proc.stderr
        want = int(options.get("exit", 0))
        assert proc.returncode == want, (
            f"{block.where}: exit code {proc.returncode}, expected {want}\n{output}"
        )
        if "expect" in options:
            assert options["expect"] in output, (
                f"{block.where}: {options['expect']!r} not in the output:\n{output}"
            )

    def start(self, block: Block) -> None:
        log = self.workdir / f"_background_{block.line}.log"
        with log.open("w") as fh:
            proc = subprocess.Popen(
                self.command(block),
                cwd=self.workdir,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        reaper.watch(proc.pid)
        self.background.append((block, proc, log))
        ready = (block.options or {}).get("ready")
        if ready:
            give_up = time.monotonic() + 30
            while ready not in log.read_text():
                assert proc.poll() is None, f"{block.where}: exited early:\n{log.read_text()}"
                assert time.monotonic() < give_up, f"{block.where}: never printed {ready!r}"
                time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM every background block (to its whole process group), then wait."""
        for block, proc, log in reversed(self.background):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
                    reaper.forget(proc.pid)
                    raise AssertionError(
                        f"{block.where}: ignored SIGTERM:\n{log.read_text()}"
                    ) from None
            reaper.forget(proc.pid)
        self.background.clear()


def simulate_install(project: Path) -> list[str]:
    """What ``pip install -e PROJECT`` does for discovery, without touching the
    shared venv: a ``.dist-info`` with the entry points of PROJECT's
    ``pyproject.toml``, next to its code (the caller puts PROJECT on PYTHONPATH).
    Returns the names of its ``xqueue`` entry points."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    name, version = meta["name"], meta["version"]
    info = project / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines: list[str] = []
    for group, points in meta.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines += [f"{key} = {value}" for key, value in points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return list(meta.get("entry-points", {}).get("xqueue", {}))
