"""Every hook xqueue calls, grouped by phase.

Implement hooks in a module or object and decorate them with
:data:`xqueue_core.hookimpl`; expose the module through the ``xqueue``
entry-point group of your distribution::

    [project.entry-points.xqueue]
    myplugin = "my_package.plugin"

Hooks are synchronous (pluggy). They assemble the app, or observe it; per-task
I/O goes through the async methods of the objects they register, never through
pluggy itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from .context import TaskContext
    from .handlers import HandlerRegistrar
    from .interfaces import BackendSpec
    from .models import FinishKind, Task, TaskEvent
    from .settings import Settings

PROJECT = "xqueue"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------
# Assembly: called once per app, when its plugins are loaded
# --------------------------------------------------------------------------


@hookspec
def xqueue_register_backends(register: Callable[[BackendSpec], None]) -> None:
    """Offer backend factories for URL schemes.

    :param register: call it with one :class:`~xqueue_core.interfaces.BackendSpec`
        per role you implement, e.g.
        ``register(BackendSpec(role="store", schemes=("redis",), factory=make_store))``.
        The factory receives ``(url, settings)`` and returns an unopened backend;
        import your driver inside the factory so ``xqueue plugins`` works even
        when the driver is broken.

    Called once when the app's plugins load. Registering a scheme that another
    plugin already registered for the same role is an error naming both.
    Return nothing.
    """


@hookspec
def xqueue_register_handlers(register: HandlerRegistrar) -> None:
    """Register task handlers from an installed package.

    :param register: call ``register("email", send_email, max_retry=3)``; the
        keyword options are those of :meth:`XQueue.task`.

    Called once when the app's plugins load, after the app's own ``@app.task``
    handlers exist; registering a type twice is an error. Return nothing.
    """


@hookspec
def xqueue_register_commands(cli: click.Group) -> None:
    """Add commands to the ``xqueue`` command line.

    :param cli: the root click group; use ``@cli.command()`` or ``cli.add_command``.

    Called when the CLI starts, before arguments are parsed. Return nothing.
    """


@hookspec
def xqueue_configure(settings: Settings) -> None:
    """Check the settings that concern your plugin.

    :param settings: the validated core settings; your own TOML table is
        ``settings.extra("<name>")``.

    Called once per app after settings are loaded and plugins registered. Raise
    :class:`~xqueue_core.errors.SettingsError` with a precise message to refuse
    them. Return nothing.
    """


# --------------------------------------------------------------------------
# Workers: called in each worker process
# --------------------------------------------------------------------------


@hookspec
def xqueue_worker_start(worker_id: str, task_types: list[str]) -> None:
    """A worker is about to take tasks.

    :param worker_id: unique id of the worker process (host, pid and a random part).
    :param task_types: the types it will run.

    Called in the worker process after its backends are open. Return nothing.
    """


@hookspec
def xqueue_worker_stop(worker_id: str) -> None:
    """A worker stopped taking tasks and handed back what it did not finish.

    :param worker_id: the id given to :func:`xqueue_worker_start`.

    Called in the worker process before its backends close. Return nothing.
    """


# --------------------------------------------------------------------------
# Tasks: called around every run and every state change
# --------------------------------------------------------------------------


@hookspec
def xqueue_before_execute(task: Task, context: TaskContext) -> None:
    """A task is about to run in this process.

    :param task: the task record, now ``processing``.
    :param context: the context the handler will get.

    Called on the worker's event loop just before the handler starts; keep it
    fast. An exception fails this attempt as if the handler raised it.
    Return nothing.
    """


@hookspec
def xqueue_after_execute(
    task: Task, context: TaskContext, outcome: FinishKind, error: str | None
) -> None:
    """A run ended, before its outcome is recorded in the store.

    :param task: the task record as it was when the run started.
    :param context: the handler's context.
    :param outcome: ``success``, ``failed``, ``retry``, ``timeout``, ``canceled``
        or ``release`` (handed back at shutdown).
    :param error: the error text, or None.

    Called on the worker's event loop; exceptions are logged and ignored.
    Return nothing.
    """


@hookspec
def xqueue_task_event(event: TaskEvent) -> None:
    """A task changed state (or reported progress) through this process.

    :param event: the event, as also sent to every notifier.

    Called in the process that made the change, in order per task, after the
    store recorded it. Exceptions are logged and ignored. Return nothing.
    """


HOOK_NAMES: tuple[str, ...] = tuple(
    name
    for name, value in list(globals().items())
    if name.startswith("xqueue_") and callable(value)
)
