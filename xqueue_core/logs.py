"""structlog set-up, used only by the CLI and examples (libraries never configure logging),
and :func:`get_logger`, the logger of xqueue's modules, which follows that rule.

Also :class:`LineLogger`, which writes the same lines without structlog, for the
multi-process supervisor: importing structlog costs a process about 13 MB (it
pulls in asyncio and ssl), more than the rest of the supervisor together.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # not typing's: the supervisor does without typing (and re)
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

    import structlog

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}  # as in the logging module

# Optional packages structlog imports, when installed, only for features the CLI does not
# use: rich (pretty tracebacks; ~5 MB in every process) and greenlet (for its deprecated
# thread-local context).
STRUCTLOG_EXTRAS = ("rich", "greenlet")


def import_structlog() -> ModuleType:
    """Import structlog without its optional extras (see ``STRUCTLOG_EXTRAS``).

    Only the first import of structlog in a process can be steered; the extras stay
    importable for anything else (a task handler may well use rich). structlog then
    behaves as if they were not installed: its default console renderer prints plain
    tracebacks, which is what :func:`configure_logging` asks for anyway.
    """
    if "structlog" in sys.modules:
        return sys.modules["structlog"]
    blocked = [name for name in STRUCTLOG_EXTRAS if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # "import rich" fails
    try:
        import structlog
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return structlog


def configure_logging(level: str = "info", fmt: str = "console") -> None:
    """Console lines for humans, or one JSON object per line with ``fmt="json"``."""
    import_structlog()
    import structlog

    renderer: structlog.types.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        # Never print local variables in tracebacks: they can hold tokens and payloads.
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info
            if fmt == "json"
            else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,  # the lazy proxies otherwise re-bind on every call
    )


class Logger:
    """A structlog logger for xqueue's modules that never configures structlog.

    When the program configured structlog (the CLI does, with
    :func:`configure_logging`), it logs through that configuration; until then
    through structlog's defaults but only at INFO and above, so a script using the
    library does not print xqueue's debug lines. The choice is made again if the
    program configures structlog later.
    """

    __slots__ = ("_bound", "_configured", "_context", "_name")

    def __init__(self, name: str, **context: Any) -> None:
        self._name = name
        self._context = context
        self._bound: Any = None
        self._configured = False

    def _logger(self) -> Any:
        import structlog  # a dict lookup once imported (the CLI imports it first, without extras)

        configured = structlog.is_configured()
        if self._bound is None or configured != self._configured:
            self._configured = configured
            if configured:
                self._bound = structlog.get_logger(self._name, **self._context)
            else:
                self._bound = structlog.wrap_logger(
                    None,
                    wrapper_class=structlog.make_filtering_bound_logger(LEVELS["info"]),
                    **self._context,
                )
        return self._bound

    def bind(self, **values: Any) -> Any:
        """A bound logger with ``values`` added to every line."""
        return self._logger().bind(**values)

    def debug(self, event: str, **fields: Any) -> Any:
        """Log at debug level."""
        return self._logger().debug(event, **fields)

    def info(self, event: str, **fields: Any) -> Any:
        """Log at info level."""
        return self._logger().info(event, **fields)

    def warning(self, event: str, **fields: Any) -> Any:
        """Log at warning level."""
        return self._logger().warning(event, **fields)

    def error(self, event: str, **fields: Any) -> Any:
        """Log at error level."""
        return self._logger().error(event, **fields)

    def exception(self, event: str, **fields: Any) -> Any:
        """Log at error level with the exception being handled."""
        return self._logger().exception(event, **fields)


def get_logger(name: str) -> Logger:
    """The logger every xqueue module (and plugin) uses; see :class:`Logger`."""
    return Logger(name)


class LineLogger:
    """Log lines like those :func:`configure_logging` sets up (without colours), on
    stderr, at the level and in the format of ``XQUEUE_LOG_LEVEL`` and
    ``XQUEUE_LOG_FORMAT`` (the CLI sets both before it starts worker processes)."""

    def __init__(self, level: str | None = None, fmt: str | None = None) -> None:
        level = level or os.environ.get("XQUEUE_LOG_LEVEL") or "info"
        self.level = LEVELS.get(level, LEVELS["info"])
        self.json = (fmt or os.environ.get("XQUEUE_LOG_FORMAT")) == "json"

    def _log(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if LEVELS[level] < self.level:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        stamp += f".{int(now % 1 * 1e6):06d}Z"
        if self.json:
            import json

            line = json.dumps(
                {**fields, "event": event, "level": level, "timestamp": stamp}, default=repr
            )
        else:
            pairs = " ".join(
                f"{k}={v if isinstance(v, str) else repr(v)}" for k, v in sorted(fields.items())
            )
            line = f"{stamp} [{level:<9}] {event:<30} {pairs}".rstrip()
        print(line, file=sys.stderr, flush=True)

    def debug(self, event: str, **fields: Any) -> None:
        """Log at debug level."""
        self._log("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log at info level."""
        self._log("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log at warning level."""
        self._log("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log at error level."""
        self._log("error", event, fields)
