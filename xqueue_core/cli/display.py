"""Human-readable output for the CLI: task lines, tables, a progress display."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

import click
import orjson

from ..models import Task, iso

STATUS_COLORS = {
    "waiting": "blue",
    "running": "cyan",  # a workflow's
    "pending": "yellow",
    "processing": "cyan",
    "success": "green",
    "failed": "red",
    "timeout": "magenta",
    "canceled": "white",
}


def status_text(status: str) -> str:
    return click.style(status, fg=STATUS_COLORS.get(status), bold=True)


def show_task(task: Task) -> None:
    """Print a task as ``field: value`` lines."""
    data = task.to_dict()
    width = max(len(k) for k in data)
    for key, value in data.items():
        if value is None or (value == {} and key != "payload"):
            continue
        if key == "status":
            shown = status_text(value)
        elif isinstance(value, dict | list):
            shown = orjson.dumps(value).decode()
        else:
            shown = value
        click.echo(f"{key.rjust(width)}: {shown}")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print an aligned table."""
    text_rows = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in text_rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def short_time(ts: float | None) -> str:
    text = iso(ts)
    return text[11:23] if text else ""


class Progress:
    """A one-line progress display on stderr (redrawn in place on a terminal)."""

    def __init__(self, label: str, total: int | None = None) -> None:
        self.label = label
        self.total = total
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self._last_line = ""
        self._last_draw = 0.0

    def update(self, done: int | None = None, detail: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < (0.1 if self.tty else 1.0):
            return
        self._last_draw = now
        elapsed = now - self.started
        parts = [self.label]
        if done is not None and self.total:
            frac = done / self.total
            bar = "#" * int(frac * 30)
            parts.append(f"[{bar:<30}] {done}/{self.total} ({frac:.0%})")
            if done and elapsed > 0:
                parts.append(f"{done / elapsed:,.0f}/s")
        if detail:
            parts.append(detail)
        parts.append(f"{elapsed:.1f}s")
        line = "  ".join(parts)
        if line == self._last_line:
            return
        self._last_line = line
        if self.tty:
            click.echo("\r\x1b[2K" + line, nl=False, err=True)
        else:
            click.echo(line, err=True)

    def finish(self) -> None:
        if self.tty and self._last_line:
            click.echo("", err=True)
