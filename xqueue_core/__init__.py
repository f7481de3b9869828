"""xqueue: a distributed task queue for Python — the core.

The public API: :class:`XQueue`, its :class:`Worker`, the task model, the
backend protocols and :data:`hookimpl` for plugins.

The names are imported on first use, so that a process which needs only a small
part of the package (the multi-process supervisor, a plugin's ``hookimpl``) does
not pay for the rest (asyncio, structlog, pluggy) in start-up time and memory.
"""

from __future__ import annotations

from .lazy import lazy_exports

TYPE_CHECKING = False  # not typing's: importing typing (and re) costs 1.5 MB
if TYPE_CHECKING:
    from .app import XQueue
    from .client import BlockingClient
    from .context import TaskContext
    from .errors import (
        BackendError,
        PayloadTooLarge,
        PluginError,
        SettingsError,
        TaskAlreadyFinished,
        TaskCancelled,
        TaskNotFound,
        UnknownTaskType,
        UserError,
        ValidationError,
        XQueueError,
    )
    from .hookspecs import hookimpl
    from .interfaces import BackendSpec, Broker, Notifier, Store
    from .models import Delivery, Message, Task, TaskEvent, TaskStatus
    from .settings import Settings, load_settings
    from .worker import Worker

__version__ = "0.1.0"

# public name -> the submodule defining it
_LAZY: dict[str, str] = {
    "XQueue": "app",
    "BlockingClient": "client",
    "TaskContext": "context",
    **dict.fromkeys(
        [
            "BackendError",
            "PayloadTooLarge",
            "PluginError",
            "SettingsError",
            "TaskAlreadyFinished",
            "TaskCancelled",
            "TaskNotFound",
            "UnknownTaskType",
            "UserError",
            "ValidationError",
            "XQueueError",
        ],
        "errors",
    ),
    "hookimpl": "hookspecs",
    **dict.fromkeys(["BackendSpec", "Broker", "Notifier", "Store"], "interfaces"),
    **dict.fromkeys(["Delivery", "Message", "Task", "TaskEvent", "TaskStatus"], "models"),
    **dict.fromkeys(["Settings", "load_settings"], "settings"),
    "Worker": "worker",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "BackendError",
    "BackendSpec",
    "BlockingClient",
    "Broker",
    "Delivery",
    "Message",
    "Notifier",
    "PayloadTooLarge",
    "PluginError",
    "Settings",
    "SettingsError",
    "Store",
    "Task",
    "TaskAlreadyFinished",
    "TaskCancelled",
    "TaskContext",
    "TaskEvent",
    "TaskNotFound",
    "TaskStatus",
    "UnknownTaskType",
    "UserError",
    "ValidationError",
    "Worker",
    "XQueue",
    "XQueueError",
    "__version__",
    "hookimpl",
    "load_settings",
]
