"""The seams between packages: plugins use only the core API that docs/writing_plugins.md
names, no module of the core reaches into another's private names, and the package's
list of public names and its mirror for type checkers agree.

Read from the source with ``ast`` (nothing is imported to find the imports), so a
violation is reported as ``file:line`` whatever the module would do when imported.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import xqueue_core

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "xqueue_core"
GUIDE = ROOT / "docs" / "writing_plugins.md"
SECTION = "## The core API plugins may use"
# the plugin packages of this repository, and the example handler package
PLUGIN_GLOBS = ("plugins/*/xqueue_*/**/*.py", "examples/*/xqueue_*/**/*.py")
# namedtuple's public methods carry a leading underscore (so no field can clash)
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_field_defaults", "_make"}


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def is_core_module(name: str) -> bool:
    """Whether ``name`` (dotted) is a module or package of xqueue_core, by its file."""
    parts = name.split(".")
    if parts[0] != "xqueue_core":
        return False
    path = ROOT.joinpath(*parts)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def api_table() -> list[tuple[str, list[str]]]:
    """The rows of the guide's table: (module, the names its second column mentions)."""
    text = GUIDE.read_text()
    assert SECTION in text, f"{GUIDE.name} has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`xqueue_core"):
            rows.append((cells[0].strip("`"), re.findall(r"`([A-Za-z_][\w.]*)`", cells[1])))
    return rows


def documented_api() -> set[str]:
    return {module for module, _ in api_table()}


def module_name(path: Path) -> str:
    """The dotted name of the module in ``path`` (its packages found by their ``__init__``)."""
    top = path.parent
    while (top / "__init__.py").is_file():
        top = top.parent
    parts = list(path.relative_to(top).parts)
    parts[-1] = parts[-1].removesuffix(".py")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def absolute(node: ast.ImportFrom, path: Path) -> str:
    """The module a ``from ... import`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


class CoreUse:
    """Each use of the core in one file: ``(line, module, name)``; ``name`` is None
    when a module as such is imported."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(), str(path))
        self.bound: dict[str, str] = {}  # local name -> the core module it is bound to
        self.other_modules: set[str] = set()  # local names bound to modules outside it

    def imports(self) -> Iterator[tuple[int, str, str | None]]:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    if alias.name.split(".")[0] != "xqueue_core":
                        self.other_modules.add(local)
                        continue
                    self.bound[local] = alias.name if alias.asname else "xqueue_core"
                    yield node.lineno, alias.name, None
            elif isinstance(node, ast.ImportFrom):
                module = absolute(node, self.path)
                if module.split(".")[0] != "xqueue_core":
                    continue
                for alias in node.names:
                    if alias.name == "*":
                        yield node.lineno, module, None
                    elif is_core_module(f"{module}.{alias.name}"):
                        self.bound[alias.asname or alias.name] = f"{module}.{alias.name}"
                        yield node.lineno, f"{module}.{alias.name}", None
                    else:
                        yield node.lineno, module, alias.name

    def attributes(self) -> Iterator[tuple[int, str, str | None]]:
        """``models.Task``, ``xqueue_core.cli.common.run``: attributes of names bound
        to core modules (call after :meth:`imports`)."""
        inner: set[int] = set()
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Attribute) or id(node) in inner:
                continue
            chain: list[str] = []
            value: ast.expr = node
            while isinstance(value, ast.Attribute):
                inner.add(id(value))
                chain.insert(0, value.attr)
                value = value.value
            if not isinstance(value, ast.Name) or value.id not in self.bound:
                continue
            module = self.bound[value.id]
            for attr in chain:
                if not is_core_module(f"{module}.{attr}"):
                    yield node.lineno, module, attr
                    break
                module = f"{module}.{attr}"
            else:
                yield node.lineno, module, None


def plugin_files() -> list[Path]:
    return sorted({path for pattern in PLUGIN_GLOBS for path in ROOT.glob(pattern)})


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}"


def test_the_guide_names_the_plugin_api_and_each_module_exists() -> None:
    rows = api_table()
    assert len(rows) >= 5, "the table of the core API plugins may use is missing"
    for module, names in rows:
        assert is_core_module(module), f"{GUIDE.name} lists {module}, which does not exist"
        loaded = importlib.import_module(module)
        missing = [name for name in names if not has_path(loaded, name)]
        assert not missing, f"{GUIDE.name} says {module} offers {missing}, which it does not"
        assert not any(private(part) for name in names for part in name.split(".")), names


def has_path(obj: object, dotted: str) -> bool:
    for part in dotted.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def plugin_problems(path: Path, allowed: set[str]) -> list[str]:
    """Each use of the core in a plugin module that ``allowed`` does not cover."""
    problems = []
    use = CoreUse(path)
    for line, module, name in [*use.imports(), *use.attributes()]:
        if module not in allowed:
            problems.append(
                f"{where(path, line)}: {module} is not part of the core API for plugins"
            )
        elif name is not None and private(name):
            problems.append(f"{where(path, line)}: {module}.{name} is private")
    return problems


def test_plugins_import_only_the_documented_core_api() -> None:
    allowed = documented_api()
    files = plugin_files()
    assert len(files) > 20, "the plugin packages were not found"
    problems = [problem for path in files for problem in plugin_problems(path, allowed)]
    assert not problems, "\n".join(
        [*problems, f"(the core API plugins may use: {GUIDE.relative_to(ROOT)}, {SECTION[3:]})"]
    )


def private_definitions(tree: ast.Module) -> set[str]:
    """Private names a module defines itself: at module level, in class bodies, as
    attributes of ``self``/``cls``, or in ``__slots__``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
        ):
            names.add(node.attr)
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__slots__" for target in node.targets
        ):
            names.update(
                item.value
                for item in ast.walk(node.value)
                if isinstance(item, ast.Constant) and isinstance(item.value, str)
            )
    return {name for name in names if private(name)}


def core_problems(path: Path) -> list[str]:
    """``from .x import _y``, ``import xqueue_core._x``, ``x._y`` on a core module, and
    ``obj._y`` on any object but ``self``/``cls`` where ``_y`` is not defined in the
    module itself (the worker reaching into the app, the CLI into the context)."""
    problems = []
    this = module_name(path)
    use = CoreUse(path)
    for line, module, name in [*use.imports(), *use.attributes()]:
        if any(private(part) for part in module.split(".")):
            problems.append(f"{where(path, line)}: imports the private module {module}")
        elif name is not None and private(name) and module != this:
            problems.append(f"{where(path, line)}: uses {module}.{name}")
    own = private_definitions(use.tree)
    for node in ast.walk(use.tree):
        if not isinstance(node, ast.Attribute) or not private(node.attr):
            continue
        value = node.value
        if isinstance(value, ast.Name) and (
            value.id in ("self", "cls") or value.id in use.other_modules
        ):
            continue  # its own object; or a library's (os._exit)
        if isinstance(value, ast.Name) and value.id in use.bound:
            continue  # a core module's: reported above
        if isinstance(value, ast.Call) and ast.unparse(value.func) == "super":
            continue
        if node.attr in own or node.attr in NAMEDTUPLE_API:
            continue
        problems.append(f"{where(path, node.lineno)}: {ast.unparse(node)} is not its own")
    return problems


def test_no_core_module_uses_another_modules_private_names() -> None:
    files = core_files()
    assert len(files) > 30, "the core was not found"
    problems = [problem for path in files for problem in core_problems(path)]
    assert not problems, "\n".join(problems)


def static_exports() -> dict[str, str]:
    """``{name: submodule}`` of the ``if TYPE_CHECKING:`` imports of xqueue_core/__init__.py."""
    tree = ast.parse((CORE / "__init__.py").read_text())
    (block,) = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    out: dict[str, str] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        for alias in node.names:
            assert alias.asname == alias.name, f"{alias.name}: import it as itself (re-export)"
            out[alias.name] = node.module
    return out


def test_the_package_exports_what_type_checkers_see() -> None:
    static = static_exports()
    assert set(static) == set(xqueue_core.__all__) - {"__version__"}
    for name, module in static.items():
        submodule = importlib.import_module(f"xqueue_core.{module}")
        assert getattr(xqueue_core, name) is getattr(submodule, name), name
    assert set(static) <= set(dir(xqueue_core))


@pytest.mark.parametrize(
    ("kind", "source"),
    [
        ("plugin", "from xqueue_core.worker import Worker"),
        ("plugin", "from xqueue_core.models import _TIME_FIELDS"),
        ("plugin", "import xqueue_core.sqlite.store"),
        ("plugin", "from xqueue_core import app"),
        ("plugin", "import xqueue_core.models as m\nm._TIME_FIELDS"),
        ("core", "from xqueue_core.app import _check"),
        ("core", "from xqueue_core import _private_module"),
        ("core", "import xqueue_core.app as a\na._x"),
        ("core", "def load(app):\n    app._settings = None"),
        ("core", "def run(ctx):\n    return ctx._reported"),
    ],
)
def test_the_checks_catch(kind: str, source: str, tmp_path: Path) -> None:
    """The checkers themselves: each of these is refused in a plugin or core module."""
    path = tmp_path / "mod.py"
    path.write_text(source + "\n")
    if kind == "plugin":
        assert plugin_problems(path, documented_api()), source
    else:
        assert core_problems(path), source


def test_the_core_check_lets_a_module_use_its_own_private_names(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text(
        "import os\n"
        "class Box:\n"
        "    __slots__ = ('_items',)\n"
        "    def __init__(self):\n"
        "        self._size = 0\n"
        "def size(box):\n"
        "    return box._size + len(box._items)\n"
        "def bye():\n"
        "    os._exit(0)\n"
    )
    assert core_problems(path) == []
