"""The module the ``xqueue`` entry point names: it registers the handlers.

xqueue loads it in every app with plugin autoloading on (the default), so any
``xqueue worker`` on a machine where this package is installed can run these
task types, even without an APP argument.
"""

from __future__ import annotations

from xqueue_core import hookimpl
from xqueue_core.handlers import HandlerRegistrar

from .handlers import checksum, resize, word_count


@hookimpl
def xqueue_register_handlers(register: HandlerRegistrar) -> None:
    """Register the three example task types with their defaults."""
    register("example.resize", resize, max_retry=2, process_timeout=30)
    register("example.checksum", checksum)
    register("example.wordcount", word_count, executor="process", process_timeout=60)
