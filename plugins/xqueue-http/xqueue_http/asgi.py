"""An ASGI factory for running the API under another server (gunicorn, hypercorn ...).

``XQUEUE_APP`` names the app as ``module:attribute`` (optional, as for the CLI);
backends and HTTP settings come from the usual settings file and variables::

    XQUEUE_APP=examples.app:app uvicorn --factory xqueue_http.asgi:create --workers 4
"""

from __future__ import annotations

import os

from starlette.types import ASGIApp

from xqueue_core import XQueue
from xqueue_core.cli.common import import_app

from .server import create_app, wrap


def create() -> ASGIApp:
    """Build the ASGI app for the app named by ``$XQUEUE_APP`` (or a plain one)."""
    ref = os.environ.get("XQUEUE_APP")
    app = import_app(ref) if ref else XQueue()
    return wrap(create_app(app))
