"""xqueue-http: the REST API, the live dashboard, and ``xqueue serve`` / ``xqueue api``.

::

    from xqueue_http import create_app
    asgi = create_app(app)          # any ASGI server; or: xqueue serve module:app

The names are imported on first use: loading the plugin (every xqueue process
does, through its entry point) does not import Starlette.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xqueue_core.lazy import lazy_exports

if TYPE_CHECKING:
    from .config import HttpSettings, load_settings
    from .server import create_app

_LAZY = {"HttpSettings": "config", "load_settings": "config", "create_app": "server"}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

__all__ = ["HttpSettings", "create_app", "load_settings"]
