"""xqueue: a distributed task queue for Python — the core.

The public API: :class:`XQueue`, its :class:`Worker`, the task model, the
backend protocols and :data:`hookimpl` for plugins.

The names are imported on first use, so that a process which needs only a small
part of the package (the multi-process supervisor, a plugin's ``hookimpl``) does
not pay for the rest (asyncio, structlog, pluggy) in start-up time and memory.
"""

from __future__ import annotations

from .lazy import lazy_exports

# The public names, by the submodule defining each: the one list of them. ``__all__``
# and the imports on first use come from it. The block below mirrors it for type
# checkers, which cannot read it (``X as X``: re-exported; isort would split each
# into a statement a name); tests/docs/test_plugin_api.py keeps the two the same.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "app": ("XQueue",),
    "client": ("BlockingClient",),
    "context": ("TaskContext",),
    "errors": (
        "BackendError",
        "PayloadTooLarge",
        "PluginError",
        "ScheduleNotFound",
        "WorkflowNotFound",
        "SettingsError",
        "TaskAlreadyFinished",
        "TaskCancelled",
        "TaskNotFound",
        "UnknownTaskType",
        "UserError",
        "ValidationError",
        "XQueueError",
    ),
    "hookspecs": ("hookimpl",),
    "interfaces": ("BackendSpec", "Broker", "Notifier", "Store"),
    "models": ("Delivery", "Message", "Task", "TaskEvent", "TaskStatus"),
    "settings": ("Settings", "load_settings"),
    "worker": ("Worker",),
    "workflows": ("Node", "Workflow", "WorkflowState"),
}

TYPE_CHECKING = False  # not typing's: importing typing (and re) costs 1.5 MB
if TYPE_CHECKING:
    # isort: off
    from .app import XQueue as XQueue
    from .client import BlockingClient as BlockingClient
    from .context import TaskContext as TaskContext
    from .errors import (
        BackendError as BackendError,
        PayloadTooLarge as PayloadTooLarge,
        PluginError as PluginError,
        ScheduleNotFound as ScheduleNotFound,
        WorkflowNotFound as WorkflowNotFound,
        SettingsError as SettingsError,
        TaskAlreadyFinished as TaskAlreadyFinished,
        TaskCancelled as TaskCancelled,
        TaskNotFound as TaskNotFound,
        UnknownTaskType as UnknownTaskType,
        UserError as UserError,
        ValidationError as ValidationError,
        XQueueError as XQueueError,
    )
    from .hookspecs import hookimpl as hookimpl
    from .interfaces import (
        BackendSpec as BackendSpec,
        Broker as Broker,
        Notifier as Notifier,
        Store as Store,
    )
    from .models import (
        Delivery as Delivery,
        Message as Message,
        Task as Task,
        TaskEvent as TaskEvent,
        TaskStatus as TaskStatus,
    )
    from .settings import Settings as Settings, load_settings as load_settings
    from .workflows import (
        Node as Node,
        Workflow as Workflow,
        WorkflowState as WorkflowState,
    )
    from .worker import Worker as Worker
    # isort: on

__version__ = "0.1.0"

__getattr__, __dir__ = lazy_exports(
    __name__, {name: module for module, names in _EXPORTS.items() for name in names}, globals()
)

__all__ = ["__version__", *(name for names in _EXPORTS.values() for name in names)]
