"""Our readings of the contract where it leaves room, each written once, here.

Our own checks and the way schemathesis's checks are judged (`_generated`) both read them, so
the two can never contradict each other. The one reading that is schema, `period_start` is
an RFC 3339 full-date, is `specs/overlay.yaml`, applied to every spec on load. The README's
"Readings" table lists them all; `conformance/mock/_variants/catalogue.py` has a correct server that
relies on the other side of each.
"""

from __future__ import annotations

import datetime as dt
import re

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: Before the Unix epoch a period may be refused (400): epoch-based storage cannot hold it.
EPOCH = dt.date(1970, 1, 1)

#: The methods HTTP defines (RFC 9110 9.3, and PATCH, RFC 5789): a server knows them.
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)

#: Undeclared methods a server, or a gateway in front of it, may answer and list in `Allow`:
#: HEAD is GET without the body (RFC 9110 9.3.2), OPTIONS describes what the resource
#: supports, CORS preflights included (9.3.7).
MAY_ANSWER = frozenset({"HEAD", "OPTIONS"})

#: An undeclared query parameter is ignored (200) or refused (400): the spec is silent.
UNKNOWN_PARAMETER = (200, 400)

#: `period_start=` with an empty value is refused as malformed (400) or read as absent,
#: which is the default period (200, "Defaults to first of current month").
EMPTY_PERIOD = (200, 400)

#: A repeated `period_start` is refused (400) or one of its values is used (200): the spec
#: declares one value (`explode: false`) and does not say what a second one means.
REPEATED_PERIOD = (200, 400)


#: A credential that is no Dedalus key as the spec describes one (`Bearer` with no token or
#: no space, another scheme, a token with spaces in it): 401, either of the spec's codes.
MALFORMED_CREDENTIAL = (401,)
#: A key with bytes that are not ASCII: 401, or 400 from a server that refuses such a header
#: value as a malformed request (RFC 9110 5.5 leaves obs-text to the recipient).
NON_ASCII_CREDENTIAL = (400, 401)
#: A key thousands of characters long: 401, or a refusal of the oversized header (431,
#: RFC 6585; or 400, as many servers answer).
OVERSIZED_CREDENTIAL = (400, 401, 431)
#: `Bearer` followed by several spaces, then the key: RFC 6750 allows 1*SP, so the key may be
#: accepted (200) or the value refused (401). Not probed as malformed.
#: A valid key in a place the spec does not declare (query string, cookie, another header)
#: authenticates nothing: 401 `AUTH_REQUIRED`; a query parameter may be refused first as an
#: undeclared one (400).
KEY_IN_QUERY = (400, 401)
#: A path spelled differently from the declared one (trailing slash, doubled slashes, dot
#: segments, percent-encoded letters, other case) may be a 404, a redirect, a 4xx, or the
#: same contract behind the same authentication; never a 2xx without credentials, never 5xx.
PATH_VARIANT_WITHOUT_KEY = range(300, 500)


def org_refusals(own: str | None, other: str) -> tuple[int, ...]:
    """How an `X-Dedalus-Org-Id` naming another org is refused: 403 `AUTH_ORG_MISMATCH`; an
    id that is not shaped like an org id (the own one's shape: a UUID, or a prefix such as
    `org_`) may also be refused as malformed (400)."""
    return (403,) if own is not None and _shape(own) == _shape(other) else (400, 403)


def same_org_id(own: str, other: str) -> bool:
    """Whether `other` names the own org: equal, or, for UUIDs, equal in any letter case
    (RFC 9562 3: "case insensitive on input")."""
    return other == own or (_shape(own) == "uuid" and other.lower() == own.lower())


def _shape(org_id: str) -> str:
    if UUID.fullmatch(org_id):
        return "uuid"
    prefix = org_id.split("_", 1)[0] if "_" in org_id else ""
    return f"prefix:{prefix}:{'lower' if org_id == org_id.lower() else 'mixed'}"


def refusals(method: str) -> tuple[int, ...]:
    """How a method the spec does not declare for a path is refused: 405 (RFC 9110 15.5.6),
    or 501 for a method HTTP does not define, such as QUERY (15.6.2: "the appropriate
    response when the server does not recognize the request method")."""
    return (405,) if method.upper() in HTTP_METHODS else (405, 501)


def period_statuses(day: dt.date, today: dt.date) -> tuple[int, ...]:
    """How a real date as `period_start` is answered. The first of a month from the Unix
    epoch up to the current month is a "billing period start": 200. Another day, a month
    that has not started, or one before 1970 is policy: a server may answer it (200) or
    refuse what is no billing period (400). Never a 5xx, whatever the date."""
    billing_month = day.day == 1 and EPOCH <= day <= today.replace(day=1)
    return (200,) if billing_month else (200, 400)
