"""xqueue: a distributed task queue for Python — the core.

The public API: :class:`XQueue`, its :class:`Worker`, the task model, the
backend protocols and :data:`hookimpl` for plugins.
"""

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
