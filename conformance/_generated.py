"""Bridge to schemathesis: send a generated case through our transport, judge by both."""

from __future__ import annotations

import datetime as dt
from typing import Any

from conformance._errors import ContractViolation
from conformance._http import Exchange
from conformance._session import Dcs, auth_headers
from conformance.checks import validate_response

CREDENTIAL_HEADERS = frozenset({"x-api-key", "authorization"})


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


def check_case(dcs: Dcs, case: Any) -> Exchange | None:
    """Send one generated case with valid credentials and raise on any violation."""
    declared = dcs.contract.allowed_methods(case.operation.path)
    if case.method.upper() not in declared and not dcs.settings.method_probes:
        return None
    kwargs = case.as_transport_kwargs(base_url=dcs.transport.base_url)
    headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items()}
    headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
    credentials = auth_headers("x-api-key", dcs.credentials.api_key)
    headers.update(credentials)
    exchange = dcs.send(
        kwargs["method"], kwargs["url"], params=_query(kwargs.get("params")), headers=headers
    )
    operation = dcs.contract.operation(case.operation.path, case.operation.method)
    violations = validate_response(dcs.contract, operation, exchange)
    if not exchange.error:
        violations += _schemathesis_violations(case, exchange, credentials)
    if violations:
        raise ContractViolation.combine(violations)
    return exchange


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
                message=f.title,
                actual=f"{exchange.status}",
                expected=" ".join(f.message.split())[:300],
                exchanges=[exchange],
            )
            for f in group.exceptions
            if not _policy_room(case, exchange, f)
        ]
    return []


def _policy_room(case: Any, exchange: Exchange, failure: Any) -> bool:
    """Our documented reading: a real date that is not the 1st may be refused with 400."""
    if exchange.status != 400 or "positive_data_acceptance" not in type(failure).checks:
        return False
    value = (case.query or {}).get("period_start")
    try:
        return isinstance(value, str) and dt.date.fromisoformat(value).day != 1
    except ValueError:
        return False
