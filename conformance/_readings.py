"""Our readings of the contract where it leaves room, each written once, here.

Our own checks and the way schemathesis's checks are judged (`_generated`) both read them, so
the two can never contradict each other. The one reading that is schema, `period_start` is
an RFC 3339 full-date, is `specs/overlay.yaml`, applied to every spec on load. The README's
"Readings" table lists them all; `conformance/mock/_variants.py` has a correct server that
relies on the other side of each.
"""

from __future__ import annotations

import datetime as dt

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


def refusals(method: str) -> tuple[int, ...]:
    """How a method the spec does not declare for a path is refused: 405 (RFC 9110 15.5.6),
    or 501 for a method HTTP does not define, such as QUERY (15.6.2: "the appropriate
    response when the server does not recognize the request method")."""
    return (405,) if method.upper() in HTTP_METHODS else (405, 501)


def period_statuses(day: dt.date, today: dt.date) -> tuple[int, ...]:
    """How a real date as `period_start` is answered. The first of a month up to the current
    one is a "billing period start": 200. Another day, or a month that has not started, is
    policy: a server may answer it (200) or refuse what is no billing period (400)."""
    return (200,) if day.day == 1 and day <= today.replace(day=1) else (200, 400)
