"""Example xqueue handler package: three task types a worker gets by ``pip install``.

The handlers live in :mod:`xqueue_example_handlers.handlers`; the hook that
registers them is in :mod:`xqueue_example_handlers.plugin`, which the
``xqueue`` entry point of this distribution names.
"""

from .handlers import TASK_TYPES, checksum, resize, word_count

__all__ = ["TASK_TYPES", "checksum", "resize", "word_count"]
