"""Bearer-token checks: a read token for GETs, an admin token for changes.

Tokens are compared in constant time (:func:`hmac.compare_digest`) and never
logged; a missing or wrong token is 401 (with ``WWW-Authenticate``), a valid
read token on a route that changes things is 403.
"""

from __future__ import annotations

import hmac
from typing import Literal

from starlette.requests import HTTPConnection

from .config import HttpSettings
from .responses import ApiError

Access = Literal["read", "admin"]


def _matches(given: bytes, token: str | None) -> bool:
    # compare_digest on equal-length inputs is constant time; the length check
    # of unequal inputs leaks only the token's length, which is not secret.
    return token is not None and hmac.compare_digest(given, token.encode())


def presented_token(conn: HTTPConnection) -> bytes | None:
    """The token of an ``Authorization: Bearer ...`` header (None when absent)."""
    header = conn.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(
            401,
            "unauthorized",
            "the Authorization header must be 'Bearer <token>'",
            {"WWW-Authenticate": 'Bearer error="invalid_request"'},
        )
    return value.strip().encode()


def granted(config: HttpSettings, conn: HTTPConnection) -> Access | None:
    """What the request's token grants: "admin", "read", or None (no valid token)."""
    given = presented_token(conn)
    if given is None:
        return None
    if _matches(given, config.admin_token):
        return "admin"
    if _matches(given, config.read_token):
        return "read"
    raise ApiError(
        401,
        "unauthorized",
        "the bearer token is not valid",
        {"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def require(config: HttpSettings, conn: HTTPConnection, access: Access) -> None:
    """Raise 401/403 unless the request may do ``access``.

    Reads need a token only when a read token is configured; changes need the
    admin token when one is configured, else the read token when that is.
    """
    if not config.auth_enabled:
        if conn.headers.get("authorization") is not None:
            presented_token(conn)  # still refuse a malformed header, consistently
        return
    needed = access
    if access == "read" and not config.read_token:
        needed_token = False
    elif access == "admin" and not config.admin_token:
        needed, needed_token = "read", True
    else:
        needed_token = True
    has = granted(config, conn)
    if not needed_token:
        return
    if has is None:
        raise ApiError(
            401,
            "unauthorized",
            f"this route needs a bearer token ({needed} access)",
            {"WWW-Authenticate": "Bearer"},
        )
    if needed == "admin" and has != "admin":
        raise ApiError(403, "forbidden", "this route needs the admin token; yours is read-only")
