"""docs/plugin_hooks.md documents every hook with its exact signature, and nothing else.

Like datasette's ``tests/test_docs.py``: each hookspec of
``xqueue_core/hookspecs.py`` has a ``### <hook name>`` section whose first code
block is the hook's signature line, and every example in it registers cleanly
with a real plugin manager.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import types
from typing import Any

import pluggy
import pytest

from tests.docs.docblocks import DOCS, Block, blocks
from xqueue_core import hookspecs

PAGE = DOCS / "plugin_hooks.md"
HEADING = re.compile(r"^(#{2,4}) +(.+?) *$")


def sections() -> dict[str, list[Block]]:
    """``{heading: code blocks under it}`` for every ``xqueue_*`` heading."""
    text = PAGE.read_text()
    out: dict[str, list[Block]] = {}
    current: str | None = None
    starts: list[tuple[int, str | None]] = []
    for number, line in enumerate(text.splitlines(), 1):
        match = HEADING.match(line)
        if match:
            title = match[2].strip("` ")
            current = title if title.startswith("xqueue_") else None
            if current is not None:
                assert current not in out, f"hook {current} documented twice"
                out[current] = []
            starts.append((number, current))
    for block in blocks(text, PAGE.name):
        owner = None
        for number, name in starts:
            if number < block.line:
                owner = name
        if owner is not None:
            out[owner].append(block)
    return out


def normal(annotation: str) -> str:
    return ast.unparse(ast.parse(annotation, mode="eval"))


def spec_signature(name: str) -> tuple[list[tuple[str, str, str]], str]:
    """``([(param, kind, annotation)], return annotation)`` of a hookspec."""
    sig = inspect.signature(getattr(hookspecs, name))
    params = []
    for p in sig.parameters.values():
        assert isinstance(p.annotation, str), f"{name}: annotations are expected as strings"
        assert p.default is inspect.Parameter.empty, f"{name}: hook parameters have no defaults"
        params.append((p.name, p.kind.name, normal(p.annotation)))
    return params, normal(str(sig.return_annotation))


def doc_signature(line: str) -> tuple[str, list[tuple[str, str, str]], str]:
    """Parse ``name(a: T, b: U) -> R`` as written in the docs."""
    tree = ast.parse(f"def {line.strip()}: ...")
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef)
    args = func.args
    assert not (args.vararg or args.kwarg or args.kwonlyargs or args.defaults), line
    params = [
        (a.arg, "POSITIONAL_OR_KEYWORD", ast.unparse(a.annotation) if a.annotation else "")
        for a in args.posonlyargs + args.args
    ]
    returns = ast.unparse(func.returns) if func.returns else ""
    return func.name, params, returns


DOCUMENTED = sections()


def test_hook_names_are_found() -> None:
    assert len(hookspecs.HOOK_NAMES) >= 9
    assert set(hookspecs.HOOK_NAMES) == {
        name for name in dir(hookspecs) if name.startswith("xqueue_")
    }


@pytest.mark.parametrize("name", hookspecs.HOOK_NAMES)
def test_every_hook_is_documented_with_its_signature(name: str) -> None:
    assert name in DOCUMENTED, f"docs/plugin_hooks.md has no section '### {name}'"
    code = DOCUMENTED[name]
    assert code, f"{name}: no code block under its heading"
    signature = code[0]
    assert signature.lang == "python", f"{signature.where}: signature block must be python"
    assert len(signature.code.strip().splitlines()) == 1, (
        f"{signature.where}: the signature must be one line"
    )
    doc_name, doc_params, doc_returns = doc_signature(signature.code)
    params, returns = spec_signature(name)
    assert doc_name == name, f"{signature.where}: signature names {doc_name}, not {name}"
    assert doc_params == params, f"{signature.where}: documented {doc_params}, hookspec {params}"
    assert doc_returns == returns, f"{signature.where}: returns {doc_returns}, not {returns}"


def test_no_documented_hook_that_does_not_exist() -> None:
    extra = set(DOCUMENTED) - set(hookspecs.HOOK_NAMES)
    assert not extra, f"docs/plugin_hooks.md documents hooks that do not exist: {sorted(extra)}"


@pytest.mark.parametrize("name", hookspecs.HOOK_NAMES)
def test_hook_options_are_documented(name: str) -> None:
    """firstresult/historic hooks must say so; the page says none is firstresult."""
    opts: dict[str, Any] = getattr(getattr(hookspecs, name), f"{hookspecs.PROJECT}_spec")
    text = PAGE.read_text()
    for option in ("firstresult", "historic"):
        if opts.get(option):
            section = text.split(f"### {name}", 1)[1].split("\n### ", 1)[0]
            assert option in section, f"{name} is {option}; its section must say so"
    if any(opts.get("firstresult") for opts in _all_opts()):
        assert "none of them is `firstresult`" not in text


def _all_opts() -> list[dict[str, Any]]:
    return [
        getattr(getattr(hookspecs, n), f"{hookspecs.PROJECT}_spec") for n in hookspecs.HOOK_NAMES
    ]


@pytest.mark.parametrize("name", hookspecs.HOOK_NAMES)
def test_hook_example_registers(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example implements the hook, with parameter names the hookspec has."""
    examples = [b for b in DOCUMENTED.get(name, [])[1:] if b.lang == "python"]
    assert examples, f"{name}: no example after the signature"
    example = examples[-1]
    module = types.ModuleType(f"docs_example_{name}")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # as an imported plugin is
    exec(compile(example.code, example.where, "exec"), module.__dict__)
    assert callable(getattr(module, name, None)), f"{example.where}: does not define {name}"
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(module, name=module.__name__)
    manager.check_pending()
    impls = getattr(manager.hook, name).get_hookimpls()
    assert [impl.plugin_name for impl in impls] == [module.__name__]
