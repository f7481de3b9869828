"""Schemathesis hooks of tests/http/test_http_schema.py (loaded by its config).

A submit's ``depends_on`` must name tasks that exist in the store, which no JSON
schema can say: a generated valid submit naming made-up parents is refused (422)
with ``depends_on: no task '…' in this store``. That refusal, and only that one, is
not a finding of the positive-data check; every other refusal of valid data still is.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

UNKNOWN_PARENT = "depends_on: no task "


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a valid submit refused for an unknown parent id."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    message = body.get("error", {}).get("message", "") if isinstance(body, dict) else ""
    return not (isinstance(message, str) and UNKNOWN_PARENT in message)
