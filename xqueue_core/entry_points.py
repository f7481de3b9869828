"""The ``xqueue`` entry points of the installed distributions, read without
:mod:`importlib.metadata`.

Every worker process looks its plugins up at start, and importing
``importlib.metadata`` (with the email, zipfile and csv modules it pulls in) adds
about 3.4 MB to a process that otherwise needs none of it. What discovery needs
is small: the ``entry_points.txt`` of each ``*.dist-info`` (or ``*.egg-info``)
directory on ``sys.path``, and the name and version of the distributions that
declare an entry point in the group. As :mod:`importlib.metadata` does, the first
distribution of a name on the path wins; zip archives on the path are not read.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass

_SECTION = re.compile(r"^\[\s*([^\]]+?)\s*\]\s*$")
_SUFFIXES = (".dist-info", ".egg-info")


@dataclass(frozen=True, slots=True)
class EntryPoint:
    """One entry point: ``name = module:attribute`` of a distribution."""

    name: str
    value: str
    distribution: str
    version: str | None

    def load(self) -> object:
        """Import the module and return the object the entry point names."""
        module_name, _, attribute = self.value.partition(":")
        obj: object = importlib.import_module(module_name.strip())
        for part in attribute.strip().split(".") if attribute.strip() else []:
            obj = getattr(obj, part)
        return obj


def normalize(name: str) -> str:
    """A distribution name as packaging compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def entry_points(group: str, path: Iterable[str] | None = None) -> list[EntryPoint]:
    """Every entry point of ``group``, distribution by distribution in ``path`` order
    (``sys.path`` by default)."""
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for entry in sys.path if path is None else path:
        directory = entry or "."
        try:
            names = sorted(os.listdir(directory))
        except OSError:  # missing, not a directory, or a zip archive
            continue
        for name in names:
            if not name.endswith(_SUFFIXES):
                continue
            key = normalize(name.rsplit(".", 1)[0].partition("-")[0])
            if key in seen:
                continue  # shadowed by the same distribution earlier on the path
            seen.add(key)
            meta = os.path.join(directory, name)
            entries = _read_group(os.path.join(meta, "entry_points.txt"), group)
            if entries:
                dist_name, version = _name_and_version(meta, name)
                found += [EntryPoint(n, value, dist_name, version) for n, value in entries]
    return found


def _read_group(file: str, group: str) -> list[tuple[str, str]]:
    """``(name, value)`` of each entry in the ``[group]`` section of an INI-style
    entry_points.txt (none when the file is missing)."""
    try:
        with open(file, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    out: list[tuple[str, str]] = []
    inside = False
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        section = _SECTION.match(line)
        if section:
            inside = section.group(1) == group
            continue
        if inside and "=" in line:
            name, _, value = line.partition("=")
            value = value.split("[", 1)[0]  # extras ("mod:obj [extra]") do not matter here
            out.append((name.strip(), value.strip()))
    return out


def _name_and_version(meta: str, directory_name: str) -> tuple[str, str | None]:
    """The ``Name`` and ``Version`` headers of METADATA (PKG-INFO for eggs); the
    directory name (``name-version.dist-info``) when they cannot be read."""
    stem = directory_name.rsplit(".", 1)[0]
    name, _, version = stem.partition("-")
    headers: dict[str, str] = {}
    for file in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(meta, file), encoding="utf-8") as handle:
                for line in handle:
                    if not line.strip():
                        break  # the headers end at the first blank line
                    key, sep, value = line.partition(":")
                    if sep and key in ("Name", "Version"):
                        headers[key] = value.strip()
        except (OSError, UnicodeDecodeError):
            continue
        break
    return headers.get("Name", name), headers.get("Version", version or None)
