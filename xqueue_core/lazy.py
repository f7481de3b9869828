"""Package attributes imported on first use (PEP 562), for packages every process loads.

::

    __getattr__, __dir__ = lazy_exports(__name__, {"create_app": "server"}, globals())

A process that needs little of a package (the multi-process supervisor, a
plugin loaded only for its entry point) does not pay for the rest in start-up
time and memory.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: this module is imported by lean processes
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


def lazy_exports(
    package: str, names: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps each public
    name to the submodule (relative to the package) that defines it."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        from importlib import import_module

        value = getattr(import_module(f".{module}", package), name)
        namespace[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *names])

    return __getattr__, __dir__
