"""Every error reply of the mock, serialised once: the spec's JSON error shape for
400/401/403/500/502 and RFC 9457 ``application/problem+json`` for any other status."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
ALLOWED_METHODS = "GET, HEAD"


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete error response: status, media type, pre-serialised body, extra headers."""

    status: int
    media_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


class ApiError(Exception):
    """Raised by a request step to answer with ``reply`` instead of continuing."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def dumps(document: object) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def api_error(
    status: int,
    error_code: str,
    message: str,
    *,
    retryable: bool,
    details: Mapping[str, str] | None = None,
    retry_after_ms: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """An error in the spec's JSON shape (``error_code``, ``message``, ``retryable``, ...)."""
    document: dict[str, object] = {
        "error_code": error_code,
        "message": message,
        "retryable": retryable,
    }
    if details is not None:
        document["details"] = dict(details)
    if retry_after_ms is not None:
        document["retry_after_ms"] = retry_after_ms
    return Reply(status, JSON, dumps(document), MappingProxyType(dict(headers or {})))


def problem(
    status: int, title: str, detail: str, *, headers: Mapping[str, str] | None = None
) -> Reply:
    """An ``ErrorModel`` problem document (the spec's ``default`` response)."""
    document = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Reply(status, PROBLEM_JSON, dumps(document), MappingProxyType(dict(headers or {})))


#: The challenges of the mock's 401s (RFC 9110 11.6.1, RFC 6750 3): Bearer, which the spec's
#: `BearerAuth` scheme declares; an error code only when a token came and was no valid key.
CHALLENGE = 'Bearer realm="dcs"'
AUTH_REQUIRED = api_error(
    401,
    "AUTH_REQUIRED",
    "missing Dedalus API key",
    retryable=False,
    headers={"WWW-Authenticate": CHALLENGE},
)
AUTH_INVALID = api_error(
    401,
    "AUTH_INVALID",
    "invalid Dedalus API key",
    retryable=False,
    headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
)
AUTH_ORG_MISMATCH = api_error(
    403, "AUTH_ORG_MISMATCH", "org scope does not match API key ownership", retryable=False
)
INVALID_PERIOD_START = api_error(
    400,
    "INVALID_PERIOD_START",
    "period_start must be a calendar date in YYYY-MM-DD form",
    retryable=False,
    details={"parameter": "period_start"},
)
INVALID_QUERY = api_error(
    400, "INVALID_QUERY", "query string must be valid percent-encoded UTF-8", retryable=False
)
INVALID_REQUEST = api_error(
    400, "INVALID_REQUEST", "malformed or oversized HTTP request", retryable=False
)
LEDGER_UNAVAILABLE = api_error(
    502,
    "BILLING_LEDGER_UNAVAILABLE",
    "billing ledger unavailable",
    retryable=True,
    retry_after_ms=1000,
    headers={"Retry-After": "1"},
)
INTERNAL = api_error(500, "INTERNAL", "internal server error", retryable=True)
NOT_FOUND = problem(404, "Not Found", "no such resource")
METHOD_NOT_ALLOWED = problem(
    405,
    "Method Not Allowed",
    "/v1/usage supports GET and HEAD only",
    headers={"Allow": ALLOWED_METHODS},
)
