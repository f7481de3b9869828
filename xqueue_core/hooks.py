"""Hooks: the one way the core calls plugin hooks, a typed method per hook.

Every call goes through pluggy's call loop, so an implementation may declare only
the arguments it uses, hook wrappers and tracing apply, and ``tryfirst``/
``trylast`` order holds. Assembly hooks whose callback must know which plugin
calls it (backends, handlers, commands) are called once per plugin with
:meth:`Hooks.each`, each time through a caller that holds that plugin alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from .context import TaskContext
    from .handlers import HandlerRegistrar
    from .interfaces import BackendSpec
    from .models import FinishKind, Task, TaskEvent
    from .settings import Settings


class Hooks:
    """Typed calls of the hooks in :mod:`xqueue_core.hookspecs` for one plugin manager."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self._pm = manager

    def implemented(self, name: str) -> bool:
        """Whether any plugin implements hook ``name`` (the hot path skips the others)."""
        return bool(getattr(self._pm.hook, name).get_hookimpls())

    def each(
        self, name: str, arguments: Callable[[str], Mapping[str, Any]]
    ) -> Iterator[tuple[str, Callable[[], Any]]]:
        """``(plugin name, call)`` for every implementation of hook ``name``, in
        registration order; ``call()`` runs that plugin's alone (inside any hook
        wrappers), with ``arguments(plugin name)``, through pluggy's call loop."""
        impls = getattr(self._pm.hook, name).get_hookimpls()
        # wrappers wrap each plugin's call, as they would wrap a whole call
        plain = [i for i in impls if not (i.hookwrapper or getattr(i, "wrapper", False))]
        for impl in plain:
            others = [i.plugin for i in plain if i.plugin is not impl.plugin]
            caller = self._pm.subset_hook_caller(name, others)
            kwargs = dict(arguments(impl.plugin_name))
            yield impl.plugin_name, lambda c=caller, k=kwargs: c(**k)  # type: ignore[misc]

    # -- assembly ------------------------------------------------------------------

    def register_backends(
        self, register_for: Callable[[str], Callable[[BackendSpec], None]]
    ) -> None:
        """``xqueue_register_backends``: each plugin gets ``register_for(its name)``."""
        for _, call in self.each(
            "xqueue_register_backends", lambda plugin: {"register": register_for(plugin)}
        ):
            call()

    def register_handlers(self, register_for: Callable[[str], HandlerRegistrar]) -> None:
        """``xqueue_register_handlers``: each plugin gets ``register_for(its name)``."""
        for _, call in self.each(
            "xqueue_register_handlers", lambda plugin: {"register": register_for(plugin)}
        ):
            call()

    def register_commands(self, cli: click.Group) -> Iterator[tuple[str, Callable[[], Any]]]:
        """``xqueue_register_commands``, one plugin at a time: the CLI reports a plugin
        that fails without losing the others' commands."""
        return self.each("xqueue_register_commands", lambda plugin: {"cli": cli})

    def configure(self, settings: Settings) -> None:
        """``xqueue_configure``: the app's settings, before its backends are made."""
        self._pm.hook.xqueue_configure(settings=settings)

    # -- a worker's life and its runs -------------------------------------------------

    def worker_start(self, worker_id: str, task_types: list[str]) -> None:
        """``xqueue_worker_start``."""
        self._pm.hook.xqueue_worker_start(worker_id=worker_id, task_types=task_types)

    def worker_stop(self, worker_id: str) -> None:
        """``xqueue_worker_stop``."""
        self._pm.hook.xqueue_worker_stop(worker_id=worker_id)

    def before_execute(self, task: Task, context: TaskContext) -> None:
        """``xqueue_before_execute``."""
        self._pm.hook.xqueue_before_execute(task=task, context=context)

    def after_execute(
        self, task: Task, context: TaskContext, outcome: FinishKind, error: str | None
    ) -> None:
        """``xqueue_after_execute``."""
        self._pm.hook.xqueue_after_execute(task=task, context=context, outcome=outcome, error=error)

    def task_event(self, event: TaskEvent) -> None:
        """``xqueue_task_event``."""
        self._pm.hook.xqueue_task_event(event=event)
