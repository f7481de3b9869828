"""The xqueue error tree: one root, shallow branches.

Errors a user can cause (bad input, unknown task type, bad settings) derive
from :class:`UserError`; the CLI prints them as one line and exits 2, the HTTP
API answers them with a 4xx status.
"""

from __future__ import annotations


class XQueueError(Exception):
    """Root of every error xqueue raises on purpose."""


class UserError(XQueueError):
    """A mistake in what the caller asked for; nothing was changed."""

    code = "invalid_request"


class ValidationError(UserError):
    """A field of a task, a setting or an argument has a wrong value."""

    code = "invalid_field"


class PayloadTooLarge(ValidationError):
    """The task payload is larger than ``max_payload_bytes``."""

    code = "payload_too_large"


class UnknownTaskType(ValidationError):
    """No worker has registered a handler for the submitted task type."""

    code = "unknown_task_type"


class SettingsError(UserError):
    """A setting from the file, the environment or a flag is invalid."""

    code = "invalid_setting"


class PluginError(UserError):
    """A plugin could not be loaded, or no plugin offers a URL scheme."""

    code = "plugin_error"


class TaskNotFound(UserError):
    """No task with this id exists (or it expired after its retention)."""

    code = "not_found"


class ScheduleNotFound(UserError):
    """No periodic schedule has that name (HTTP 404)."""

    code = "not_found"


class WorkflowNotFound(UserError):
    """No task is a member of a workflow with that id (HTTP 404)."""

    code = "not_found"


class TaskAlreadyFinished(UserError):
    """The task is in a terminal state; cancelling it changes nothing."""

    code = "already_finished"


class TaskNotDead(UserError):
    """Only a task that ended failed or timeout can be replayed (HTTP 409)."""

    code = "not_dead"


class BackendError(XQueueError):
    """A broker, store or notifier failed (unreachable, protocol error)."""


class TaskCancelled(BaseException):
    """Raised inside a running handler when its task is cancelled or times out.

    It derives from :class:`BaseException` so that a handler's
    ``except Exception`` does not swallow it.
    """
