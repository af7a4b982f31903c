"""Failures by root cause, ranked by severity.

A root cause is what was observed, and where, whichever check saw it and on whichever status:
a lower-case `error_code` is one root cause whether `error_code_format` saw it on a 400 or
`malformed_credentials_refused` on a 401; a valid key answered 401 is one whether
`valid_key_accepted`, `same_answer` or `no_credential_carry_over` saw it. The evidence key
(`cause_key`, a stable string: summary.json's `id`, what a baseline file or the previous
night's summary matches) is:

- who was kept out or let in, by the credentials the request carried (noted by the run on
  each exchange), whatever the check and whatever it expected instead: `valid key answered
  401` (the run's key, or another org's, sent as a security scheme says), `no credentials
  answered 200`, `a wrong or malformed key answered 200`;
- another status where one was due: `status 500 where 400 was due` (the statuses due as the
  check states them in `expected`); no answer at all: `no complete response`;
- a value of the wrong shape at a place of the body or a header: `$.error_code not
  UPPER_SNAKE_CASE`, `$.billed_cpu_millicore_seconds float`, `$.plan_slug empty string`,
  `$.retryable true`, `$.provisioned_storage_gib missing`;
- a value of the right shape that one check judges wrong (an integer off the canary's figures,
  another error code, a text): the check is part of the key, `canary_closed_period_exact:
  $.billed_awake_seconds integer`, since two checks that judge integers differently do not see
  the same thing.

Each root cause has a severity (`CATEGORIES`, most serious first), from the category declared
for each check in `CATEGORY` and what was observed: a valid key kept out, or an answer without
one, is access control whatever the check (so is a 2xx where an access check's refusal was
due); any other status finding (a 400 or a 500 where something else was due) is the wire's;
an access check's `$.error_code` findings (the refusal came, with the wrong code) are
wording. A root cause takes the most serious of its findings' categories; its
primary symptom is the first finding of that category with the most direct evidence (the fewest
exchanges).

Pure functions over the JSON-ready violation dicts (`ContractViolation.as_dict()`): data in,
data out. The summary, its renderings and the plugin (which shortens the repeated failure text
of one root cause) read the same keys from here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from typing import Any

INT64_MAX = 2**63 - 1
_LITERAL_CHARS = 300  # longer `actual` texts are not parsed as Python literals

ACCESS = "access control and tenancy"
FIGURES = "wrong figures"
WIRE = "wire and schema"
WORDING = "wording"
#: The severity categories, most serious first: a root cause's severity rank is its index + 1.
CATEGORIES = (ACCESS, FIGURES, WIRE, WORDING)

#: The category of each check: ours (the catalogue; `tests/report` holds every one to a row
#: here) and schemathesis's (`st.`), whose findings are about the wire.
CATEGORY = {
    # access control and tenancy: who gets an answer, and whose answer
    "key_never_echoed": ACCESS,
    "missing_key_is_auth_required": ACCESS,
    "wrong_key_is_auth_invalid": ACCESS,
    "org_mismatch_forbidden": ACCESS,
    "valid_key_accepted": ACCESS,
    "malformed_credentials_refused": ACCESS,
    "key_only_where_declared": ACCESS,
    "foreign_org_refused": ACCESS,
    "no_credential_carry_over": ACCESS,
    "path_variant_guarded": ACCESS,
    "no_org_carry_over": ACCESS,
    "no_usage_without_valid_key": ACCESS,
    "options_reveals_nothing": ACCESS,
    "credentialed_answer_not_shared_cacheable": ACCESS,  # a cache hands one org's usage out
    "no_undeclared_org_selector": ACCESS,
    "org_existence_not_revealed": ACCESS,
    "cors_credentials_not_any_origin": ACCESS,  # any site reads usage with the caller's key
    "errors_reveal_no_internals": ACCESS,  # the implementation shown to anyone who asks
    "indented_field_line_ignored": ACCESS,  # a key on a line to be ignored is taken
    # wrong figures: the usage itself
    "usage_counters_in_range": FIGURES,
    "plan_slug_non_empty": FIGURES,
    "counters_consistent": FIGURES,
    "current_storage_same_for_every_period": FIGURES,
    "plan_determines_included_storage": FIGURES,
    "open_period_monotonic": FIGURES,
    "closed_period_stable": FIGURES,
    "future_period_unbilled": FIGURES,
    "default_period_is_current_month": FIGURES,
    "empty_period_refused_or_default": FIGURES,
    "empty_org_unbilled": FIGURES,
    "canary_closed_period_exact": FIGURES,
    "canary_cpu_within_bounds": FIGURES,
    "canary_open_period_within_bounds": FIGURES,
    "canary_storage_current": FIGURES,
    "same_answer": FIGURES,
    "path_variant_same_contract": FIGURES,
    "equivalent_requests_same_answer": FIGURES,
    "pipelined_answers_in_order": FIGURES,  # a request gets another one's usage
    # the wire and the schema: HTTP, media types, bodies, statuses, what clients act on
    "complete_response": WIRE,
    "framing_fits_the_request": WIRE,
    "content_type_documented": WIRE,
    "json_wire_format": WIRE,
    "body_matches_schema": WIRE,
    "auth_errors_not_retryable": WIRE,
    "request_errors_not_retryable": WIRE,
    "retry_hint_non_negative": WIRE,
    "problem_status_matches": WIRE,
    "malformed_period_rejected": WIRE,
    "valid_period_accepted": WIRE,
    "period_start_any_valid_date": WIRE,
    "unknown_params_harmless": WIRE,
    "undeclared_method_refused": WIRE,
    "head_matches_get": WIRE,
    "strong_etag_names_one_content": WIRE,
    "http_message_lint": WIRE,  # the message as HTTP frames it
    "standard_headers_harmless": WIRE,
    "date_present": WIRE,
    "not_modified_has_no_content": WIRE,
    "not_modified_as_200": WIRE,
    "no_content_length_in_204": WIRE,
    "no_interim_to_http10": WIRE,
    "generated_uris_well_formed": WIRE,
    "options_ignores_conditions": WIRE,
    "auth_challenge_sent": ACCESS,
    "connection_close_honoured": WIRE,
    "request_target_harmless": WIRE,
    "host_required": WIRE,
    "field_name_whitespace_refused": WIRE,
    "malformed_field_refused_or_replaced": WIRE,
    "request_line_garbage_refused": WIRE,
    "invalid_request_target_refused": WIRE,
    "long_method_refused": WIRE,
    "invalid_content_length_refused": WIRE,
    "framing_conflict_closed": WIRE,
    "no_request_after_close": WIRE,
    "close_echoed": WIRE,
    "close_announced": WIRE,
    "no_transfer_encoding_in_204": WIRE,
    "cors_allow_origin_one_value": WIRE,  # a browser shares nothing: the API unusable from it
    "cors_fields_well_formed": WIRE,
    "cors_echo_varies_on_origin": WIRE,  # a cache hands one origin's grant to another
    "preflight_answer_ok": WIRE,
    "wrong_key_burst_refused": ACCESS,  # a guessed key let in, or the guard falls over
    "sibling_path_gives_no_usage": ACCESS,  # another version serves usage without a key
    "higher_minor_version_served": WIRE,
    "unfinished_head_not_answered": WIRE,
    "foreign_authority_not_misserved": WIRE,
    # wording: what an error calls itself
    "error_code_format": WORDING,
    "problem_title_stable": WORDING,
    "about_blank_title_is_status_phrase": WORDING,
}

#: Kinds of value that a check judges wrong by its own standard (not by shape alone): the
#: check is part of the root cause's key.
VALUE_KINDS = frozenset({"integer", "text", "another code"})
NO_ANSWER = "no complete response"
ERROR_CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
_STATUS = r"[1-5](?:\d\d|xx)"
_DUE = re.compile(rf"\s*(?:an?\s+)?({_STATUS}(?:\s*(?:,\s*or|or|,|/)\s*{_STATUS})*)", re.I)
_REQUIRED = re.compile(r"'([^']+)' is a required property")
_EXTRA = re.compile(r"\('([^']+)' was unexpected\)")


def violation_items(violation: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The violation and every one found with it (`related`), depth first."""
    if not violation:
        return []
    items = [violation]
    for related in violation.get("related") or []:
        items += violation_items(related)
    return items


def response_status(violation: Mapping[str, Any]) -> int | None:
    """The status of the response a violation is about: the only one, or among several (a
    check comparing reads), the first that is not 200; None when no response came."""
    statuses = [(e.get("response") or {}).get("status") for e in violation.get("exchanges") or []]
    if not statuses:
        return None
    return next((status for status in statuses if status != 200), 200)


def observed_status(violation: Mapping[str, Any]) -> int | None:
    """The status a finding is about: for a status finding, the one it names in `actual`
    (`401 auth_invalid`; None: no answer); else `response_status`."""
    if not _is_status_finding(violation):
        return response_status(violation)
    match = re.match(r"\s*(\d{3})\b", str(violation.get("actual") or ""))
    return int(match.group(1)) if match else None


def due_statuses(violation: Mapping[str, Any]) -> str | None:
    """The statuses a status finding says were due, from its `expected` (`200`, `400 or 401`,
    `3xx or 4xx`); None when it names none."""
    match = _DUE.match(str(violation.get("expected") or ""))
    if match is None:
        return None
    statuses = re.findall(_STATUS, match.group(1), re.I)
    return " or ".join(dict.fromkeys(status.lower() for status in statuses))


def _is_status_finding(violation: Mapping[str, Any]) -> bool:
    check = str(violation.get("check") or "")
    return violation.get("location") == "status" or (
        check.startswith("st.") and str(violation.get("actual") or "").isdigit()
    )


def location_of(violation: Mapping[str, Any]) -> str:
    """Where the finding is: its `location`, or for a schema's missing or extra property at
    the top of the body, that property (`$.billed_memory_mib_seconds`)."""
    location = str(violation.get("location") or "")
    message = str(violation.get("message") or "")
    if location == "$":
        for pattern in (_REQUIRED, _EXTRA):
            found = pattern.search(message)
            if found:
                return f"$.{found.group(1)}"
    return location


def value_kind(violation: Mapping[str, Any]) -> str:
    """The kind of the offending value, from the violation's `actual` and `expected`:
    missing, extra field, status, null, true, false, negative integer, integer over int64,
    integer, float, empty string, string, object, array; for an error code, `not
    UPPER_SNAKE_CASE` or `another code`; `httplint NOTE` for a note of httplint's (its
    `actual` starts with the note class); text for anything else (a media type, a transport
    error)."""
    actual = str(violation.get("actual") or "").strip()
    note = re.match(r"([A-Z][A-Z0-9_]+): ", actual)
    if violation.get("check") == "http_message_lint" and note:
        return f"httplint {note.group(1)}"
    expected = str(violation.get("expected") or "")
    location = str(violation.get("location") or "")
    if expected.startswith("schema keyword 'required'") or actual in ("(missing)", "(none)"):
        return "missing"
    if expected.startswith("schema keyword 'additionalProperties'"):
        return "extra field"
    if _is_status_finding(violation):
        return "status"
    status = response_status(violation)
    if not location and status is not None and actual == str(status):
        return "status"
    if location == "$.error_code":
        return _code_kind(actual)
    if not actual:
        return "missing" if location.startswith("header ") else "text"
    return _literal_kind(actual)


def _code_kind(actual: str) -> str:
    """An error code as the checks show it: `auth_invalid`, `'auth_invalid'`, `401
    auth_invalid` (a status first), `None`, `401` (no code)."""
    text = re.sub(r"^\d{3}(?:\s+|$)", "", actual).strip()
    if not text:
        return "missing"
    kind = _literal_kind(text)
    if kind not in ("string", "text"):
        return kind
    code = ast.literal_eval(text) if kind == "string" else text
    return "another code" if ERROR_CODE.fullmatch(code) else "not UPPER_SNAKE_CASE"


def _literal_kind(text: str) -> str:
    value: Any
    try:
        if len(text) > _LITERAL_CHARS:
            raise ValueError(text)
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return {"{": "object", "[": "array"}.get(text[0], "text")  # a cut repr(...)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value < 0:
            return "negative integer"
        return "integer over int64" if value > INT64_MAX else "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string" if value.strip() else "empty string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple | set):
        return "array"
    return "text"


def cause_key(violation: Mapping[str, Any]) -> str:
    """The root cause of one finding (not its related ones), as a stable string."""
    check = str(violation.get("check") or "")
    if check == "complete_response":
        return NO_ANSWER
    kind = value_kind(violation)
    if kind == "status":
        return _status_key(violation)
    location = location_of(violation)
    observed = f"{location} {kind}" if location else kind
    return f"{check}: {observed}" if kind in VALUE_KINDS or not location else observed


def _status_key(violation: Mapping[str, Any]) -> str:
    """A status finding: who was let in or kept out, by the credentials the request carried
    (`valid key answered 401`, `no credentials answered 200`, `a wrong or malformed key
    answered 200`) whatever was due instead; else the status and those due."""
    status = observed_status(violation)
    if status is None:
        return NO_ANSWER
    due = due_statuses(violation)
    dues = due.split(" or ") if due else []
    state = sent(violation)[1]
    if status in (401, 403) and state in VALID_KEYS and str(status) not in dues:
        return f"valid key answered {status}"
    refusal_due = bool(dues) and not any(d.startswith("2") for d in dues)
    if 200 <= status < 300 and refusal_due and state in ADMITTED:
        return f"{ADMITTED[state]} answered {status}"
    return (
        f"status {status} where {due} was due"
        if due
        else f"{violation.get('check')}: status {status}"
    )


#: Credential states (see `_run.session.credentials_of`) of a key the target must accept.
VALID_KEYS = ("valid key", "another org's key")
#: Credential states the target must refuse, as a root cause names them.
ADMITTED = {"none": "no credentials", "other value": "a wrong or malformed key"}


def subject(violation: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The exchange a finding is about: the one it names (`subject`), else the first whose
    status is the one observed, else the first."""
    exchanges = violation.get("exchanges") or []
    index = violation.get("subject")
    if isinstance(index, int) and 0 <= index < len(exchanges):
        return exchanges[index]
    status = observed_status(violation)
    matching = [e for e in exchanges if (e.get("response") or {}).get("status") == status]
    return (matching or exchanges or [None])[0]


def sent(violation: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """How the request a finding is about carried credentials: (way, state), as the run noted
    it on the exchange (`credentials`); (None, None) when it did not."""
    exchange = subject(violation)
    credentials = (exchange or {}).get("credentials") or {}
    return credentials.get("scheme"), credentials.get("state")


def finding_category(violation: Mapping[str, Any]) -> str:
    """The severity category of one finding: its check's (`CATEGORY`), read with what was
    observed (see the module's docstring)."""
    check = str(violation.get("check") or "")
    declared = CATEGORY.get(check, WIRE)
    if value_kind(violation) == "status":
        key = _status_key(violation)
        if key.startswith(("valid key answered", *(f"{w} answered" for w in ADMITTED.values()))):
            return ACCESS  # a valid key locked out, or an answer without one
        status, due = observed_status(violation), due_statuses(violation) or ""
        due_success = bool(due) and all(s.startswith("2") for s in due.split(" or "))
        if status in (401, 403) and due_success:
            return ACCESS  # a valid request refused: locked out
        if declared == ACCESS and status is not None and 200 <= status < 300 and not due_success:
            return ACCESS  # an answer where the request had to be refused
        return WIRE
    if declared == ACCESS and location_of(violation) == "$.error_code":
        return WORDING  # refused as due, with the wrong code
    return declared


def severity_rank(category: str) -> int:
    return CATEGORIES.index(category) + 1


def group_failures(
    failures: Iterable[tuple[str, Mapping[str, Any] | None]],
) -> list[dict[str, Any]]:
    """Failed tests, as (test id, violation) in the order they ran, grouped by root cause,
    the most serious first (then the most tests, then the key).

    A test is in each root cause its findings show (once per root cause). Each root cause:
    `id` (the key), `rank` (1: the first to fix), `severity` (`rank`, `category`), `primary`
    (`check`, `message`, `test`: the symptom to read first), `location`, `value_kind`,
    `statuses` (the statuses it spans; null for no answer), `checks` (tests per check that saw
    it, most first), `credentials` (the ways the requests of its status findings carried
    credentials: `x-api-key`, `bearer`, `other`, `none`), `tests`, `test_ids`, `example` (the
    primary check's first finding, evidence included) and `first` (the first test that showed
    it and its findings of this root cause: what `failures.har` holds and the replay
    re-sends)."""
    causes: dict[str, dict[str, Any]] = {}
    for nodeid, violation in failures:
        for item in violation_items(violation):
            key = cause_key(item)
            cause = causes.setdefault(key, _new_cause(key, item, nodeid))
            finding = {k: v for k, v in item.items() if k != "related"}
            check = str(item.get("check") or "")
            if nodeid == cause["first"]["test"]:
                cause["first"]["violations"].append(finding)
            if nodeid not in cause["test_ids"]:
                cause["test_ids"].append(nodeid)
            tests = cause["_tests"].setdefault(check, [])
            if nodeid not in tests:
                tests.append(nodeid)
            cause["_findings"].append((nodeid, finding))
    ranked = [_settle(cause) for cause in causes.values()]
    ranked.sort(key=lambda c: (c["severity"]["rank"], -c["tests"], c["id"]))
    for number, cause in enumerate(ranked, 1):
        cause["rank"] = number
    return ranked


def _new_cause(key: str, item: Mapping[str, Any], nodeid: str) -> dict[str, Any]:
    return {
        "id": key,
        "rank": 0,
        "severity": {},
        "primary": {},
        "location": "status" if value_kind(item) == "status" else location_of(item),
        "value_kind": value_kind(item),
        "statuses": [],
        "checks": {},
        "credentials": [],
        "tests": 0,
        "test_ids": [],
        "example": {},
        "first": {"test": nodeid, "violations": []},
        "_tests": {},
        "_findings": [],
    }


def _settle(cause: dict[str, Any]) -> dict[str, Any]:
    findings = cause.pop("_findings")
    tests = cause.pop("_tests")
    categories = [finding_category(finding) for _, finding in findings]
    category = min(categories, key=severity_rank)

    def directness(entry: tuple[int, str]) -> tuple[bool, int, int]:
        order, kind = entry
        return (kind != category, len(findings[order][1].get("exchanges") or []), order)

    order, _ = min(enumerate(categories), key=directness)
    nodeid, primary = findings[order]
    statuses = {observed_status(finding) for _, finding in findings}
    credentials = [
        scheme
        for _, finding in findings
        if value_kind(finding) == "status"
        for scheme in [sent(finding)[0]]
        if scheme is not None
    ]
    cause.update(
        severity={"rank": severity_rank(category), "category": category},
        primary={
            "check": primary.get("check"),
            "message": primary.get("message", ""),
            "test": nodeid,
        },
        statuses=sorted(statuses, key=lambda s: (s is None, s or 0)),
        checks=dict(sorted(((c, len(t)) for c, t in tests.items()), key=_most_first)),
        credentials=sorted(set(credentials)),
        tests=len(cause["test_ids"]),
        example=primary,
    )
    return cause


def _most_first(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def one_line(text: str, limit: int = 160) -> str:
    """The first line of a text, cut to `limit` characters."""
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def describe_cause(cause: Mapping[str, Any]) -> str:
    """A root cause in words: its key, and for a status, how the requests it is about
    carried credentials: 'valid key answered 401 (sent as bearer)'."""
    ways = cause.get("credentials") or []
    return cause["id"] + (f" (sent as {', '.join(ways)})" if ways else "")


def statuses_text(statuses: Iterable[int | None]) -> str:
    return ", ".join("no response" if s is None else str(s) for s in statuses) or "-"


def group_warnings(
    warned: Iterable[tuple[str, Iterable[Mapping[str, Any]]]],
) -> list[dict[str, Any]]:
    """Warnings (`ContractWarning.as_dict()`), as (test id, its warnings) in the order the tests
    ran, grouped like failures by root cause: the check and the note it reported. Each group:
    `id` (`check: note`), `check`, `note`, `message` (the first one), `locations`, `statuses`,
    `tests`, `test_ids` and `example` (the first warning and its test); the most tests first."""
    groups: dict[str, dict[str, Any]] = {}
    for nodeid, warnings in warned:
        for warning in warnings:
            key = f"{warning.get('check')}: {warning.get('note')}"
            group = groups.setdefault(
                key,
                {
                    "id": key,
                    "check": warning.get("check"),
                    "note": warning.get("note"),
                    "message": warning.get("message"),
                    "locations": [],
                    "statuses": [],
                    "tests": 0,
                    "test_ids": [],
                    "example": {**warning, "test": nodeid},
                },
            )
            for name, value in (("locations", warning.get("location")),
                                ("statuses", warning.get("status"))):  # fmt: skip
                if value not in group[name]:
                    group[name].append(value)
            if nodeid not in group["test_ids"]:
                group["test_ids"].append(nodeid)
                group["tests"] += 1
    for group in groups.values():
        group["statuses"].sort(key=lambda s: (s is None, s or 0))
    return sorted(groups.values(), key=lambda g: (-g["tests"], g["id"]))
