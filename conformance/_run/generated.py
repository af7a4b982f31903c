"""Bridge to schemathesis: send a generated case through our transport, judge by both."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from conformance._client.transport import WriteRefused
from conformance._client.wire import Unsendable
from conformance._contract import readings
from conformance._contract.spec import Contract, Operation
from conformance._core.dates import parse_date, utc_today
from conformance._core.errors import ContractViolation
from conformance._core.exchange import Exchange
from conformance._run.session import FIRST_SCHEME, Dcs, credential_headers, judge

#: RFC 6455 4.1: the opening handshake of a WebSocket client (the key is any 16 bytes).
WEBSOCKET_HANDSHAKE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "ZGNzLWNvbmZvcm1hbmNlIQ==",
}


def _builtin_checks() -> list[Any]:
    """Schemathesis's response checks that need no extra requests (ours cover auth probing)."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi import checks as st

    return [
        not_a_server_error,
        st.status_code_conformance,
        st.content_type_conformance,
        st.response_headers_conformance,
        st.response_schema_conformance,
        st.negative_data_rejection,
        st.positive_data_acceptance,
        st.missing_required_header,
        st.unsupported_method,
    ]


def check_case(dcs: Dcs, case: Any, scheme: str = FIRST_SCHEME) -> Exchange | None:
    """Send one generated case with valid credentials and raise on any violation.

    Returns None, sending nothing, for a probe of an undeclared method under
    `--no-method-probes`, for a declared write (the suite is read-only), and for a case that
    HTTP/1.1 cannot carry as generated (a field value with a control character)."""
    declared = dcs.contract.allowed_methods(case.operation.path)
    if case.method.upper() not in declared and not dcs.settings.method_probes:
        return None
    operation = dcs.contract.operation(case.operation.path, case.operation.method)
    kwargs = case.as_transport_kwargs(base_url=dcs.transport.base_url)
    headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items()}
    headers = {k: v for k, v in headers.items() if k.lower() not in dcs.contract.secret_headers}
    if case.method.upper() == "GET" and _upgrades_to_websocket(operation):
        headers.update(WEBSOCKET_HANDSHAKE)  # its status and headers are judged, not the stream
    credentials = credential_headers(dcs.contract, scheme, dcs.credentials.api_key)
    headers.update(credentials)
    try:
        exchange = dcs.send(
            kwargs["method"], kwargs["url"], params=_query(kwargs.get("params")), headers=headers
        )
    except (WriteRefused, Unsendable):  # a declared write; a case the client cannot write
        return None
    violations = dcs.violations(operation, exchange)
    if not exchange.error:
        violations += _schemathesis_violations(case, exchange, credentials)
    judge(violations)
    return exchange


def _upgrades_to_websocket(operation: Operation) -> bool:
    """Whether the spec documents `101 Switching Protocols` for the operation."""
    return "101" in operation.definition.get("responses", {})


def _query(params: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in (params or {}).items():
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((str(name), _text(item)))
    return pairs


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _schemathesis_violations(
    case: Any, exchange: Exchange, credentials: dict[str, str]
) -> list[ContractViolation]:
    import requests
    from schemathesis import Response
    from schemathesis.core.failures import FailureGroup

    prepared = requests.Request(
        exchange.method, exchange.url, headers=exchange.request_headers
    ).prepare()
    response = Response(
        status_code=exchange.status or 0,
        headers={name: [value] for name, value in exchange.headers.items()},
        content=exchange.body,
        request=prepared,
        elapsed=exchange.elapsed,
        verify=True,
    )
    try:
        case.validate_response(response, checks=_builtin_checks(), headers=credentials)
    except FailureGroup as group:
        return [
            ContractViolation(
                check=f"st.{(type(f).checks or (type(f).__name__,))[0]}",
                message=f.title + exchange.foreign_note(),
                actual=f"{exchange.status}",
                expected=" ".join(f.message.split())[:300],
                exchanges=[exchange],
            )
            for f in group.exceptions
            if not _policy_room(case, exchange, f)
        ]
    return []


#: Schemathesis's checks that judge an answer by the API's documented responses: a refusal of
#: a request outside the API is not one (`readings.outside_the_api`).
HTTP_LAYER_ROOM = frozenset(
    {"status_code_conformance", "content_type_conformance", "response_schema_conformance",
     "response_headers_conformance"}
)  # fmt: skip


def _policy_room(case: Any, exchange: Exchange, failure: Any) -> bool:
    """Whether a schemathesis failure is only a difference that one of our readings allows."""
    checks = set(type(failure).checks)
    method, status = exchange.method.upper(), exchange.status or 0
    if (
        checks & {"unsupported_method", "not_a_server_error"}
        and method not in readings.HTTP_METHODS
    ):
        return status in readings.refusals(method)  # 501 for a method HTTP does not define
    if "unsupported_method" in checks and method in readings.MAY_ANSWER:
        return status < 400
    if checks & HTTP_LAYER_ROOM and status >= 300:
        return readings.outside_the_api(case.operation.method, exchange) is not None
    values = _period_values(exchange)
    if "positive_data_acceptance" in checks and status == 400 and len(values) == 1:
        day = parse_date(values[0])
        return day is not None and 400 in readings.period_statuses(day, utc_today())
    if "negative_data_rejection" in checks and status == 200:
        if values == [""]:
            return 200 in readings.EMPTY_PERIOD
        if len(values) > 1 and all(parse_date(value) for value in values):
            return 200 in readings.REPEATED_PERIOD
    return False


def _period_values(exchange: Exchange) -> list[str]:
    """The `period_start` values the request carried, as sent."""
    query = urlsplit(exchange.url).query
    return [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "period_start"]


def schemathesis_schema(contract: Contract) -> Any:
    """A schemathesis schema for the contract without its write operations: no phase
    (examples, coverage, fuzzing) generates a declared write (import deferred: heavy)."""
    import schemathesis

    schema = schemathesis.openapi.from_dict(copy.deepcopy(contract.raw))
    writes = {(op.method, op.path) for op in contract.write_operations}
    if not writes:
        return schema

    def declared_write(ctx: Any) -> bool:
        return (ctx.operation.method.lower(), ctx.operation.path) in writes

    return schema.exclude(func=declared_write)


def rehearse() -> None:
    """Do once what every run of the vendored spec does first: read, validate (remembered by
    content) and overlay it, and build its schemathesis schema, importing what that imports. A
    process forked after it (the kill matrix's warm starts) skips that work."""
    from conformance._run.load import load_contract

    schemathesis_schema(load_contract())
