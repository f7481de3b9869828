"""Hooks are called through pluggy's call loop, one plugin at a time where the callback
must know its caller: an implementation may declare fewer arguments, wrappers apply."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from xqueue_core import XQueue, hookimpl
from xqueue_core.plugins import Plugins


class Calls:
    def __init__(self) -> None:
        self.seen: list[str] = []


def test_an_implementation_may_declare_no_argument() -> None:
    calls = Calls()

    class Quiet:
        @hookimpl
        def xqueue_register_backends(self) -> None:  # takes no ``register``
            calls.seen.append("backends")

        @hookimpl
        def xqueue_register_handlers(self) -> None:
            calls.seen.append("handlers")

    app = XQueue(plugins=[Quiet()], autoload_plugins=False)
    assert app.handlers == {}
    assert "sqlite" in app.plugins.schemes("store")
    assert calls.seen == ["backends", "handlers"]


def test_each_plugin_registers_under_its_own_name_through_wrappers() -> None:
    wrapped: list[str] = []

    class Wrapper:
        @hookimpl(hookwrapper=True)
        def xqueue_register_handlers(self) -> Generator[None, Any, None]:
            wrapped.append("before")
            yield
            wrapped.append("after")

    class Emails:
        @hookimpl
        def xqueue_register_handlers(self, register: Callable[..., None]) -> None:
            register("email", lambda payload: None)

    class Reports:
        @hookimpl
        def xqueue_register_handlers(self, register: Callable[..., None]) -> None:
            register("report", lambda payload: None, max_retry=2)

    app = XQueue(plugins=[Wrapper(), Emails(), Reports()], autoload_plugins=False)
    handlers = app.handlers
    assert {name: spec.source for name, spec in handlers.items()} == {
        "email": "Emails-1",
        "report": "Reports-2",
    }
    assert handlers["report"].max_retry == 2
    assert wrapped == ["before", "after"] * 2  # one call per implementing plugin


def test_implemented_tells_the_hot_path_what_to_skip() -> None:
    class Watcher:
        @hookimpl
        def xqueue_task_event(self) -> None:
            pass

    assert Plugins(autoload=False, extra=[Watcher()]).hooks.implemented("xqueue_task_event")
    assert not Plugins(autoload=False).hooks.implemented("xqueue_after_execute")
