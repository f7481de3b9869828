"""xqueue-http: the REST API, the live dashboard, and ``xqueue serve`` / ``xqueue api``.

::

    from xqueue_http import create_app
    asgi = create_app(app)          # any ASGI server; or: xqueue serve module:app
"""

from .config import HttpConfig, load_config
from .server import create_app

__all__ = ["HttpConfig", "create_app", "load_config"]
