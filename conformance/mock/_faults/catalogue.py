"""A catalogue of realistic broken DCS servers, each one fault on top of the correct mock.

    app = faulty_app(fixtures, "usage_counter_negative")   # or apply_fault(create_app(), name)
    with serve(app) as server: ...                           # serve the app *returned*

A ``Fault`` names the suite checks expected to catch it (plain strings: the mock never
imports the suite). ``KNOWN_LIMITS`` lists faults no check can catch without false alarms
on a correct server, with the reason. ``python -m conformance.mock --fault NAME`` serves one;
``--list-faults`` prints the catalogue; ``python -m conformance.selftest`` runs the suite
against every fault (the kill matrix).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable
from datetime import date, timedelta

from starlette.types import ASGIApp

from conformance.mock import _layers as layers
from conformance.mock import _replies as replies
from conformance.mock._faults import http1, request_space, request_wire, steps, wire
from conformance.mock._faults.fault import Fault, KnownLimit, family
from conformance.mock._http.protocol import MockHttpToolsProtocol
from conformance.mock._layers import layered_app
from conformance.mock._model import Fixtures
from conformance.mock._periods import period_bounds
from conformance.mock._replies import Reply
from conformance.mock._state import Clock

SCHEMA = ("body_matches_schema",)
RANGE = ("usage_counters_in_range",)
RESPONSE_JSON = frozenset({400, 401, 403, 500, 502})
AUTH = frozenset({401, 403})
CRED_HEADERS = ("x-api-key", "authorization", "x-dedalus-org-id")


def _set(name: str, value: object) -> Callable[[dict], None]:
    return lambda document: document.__setitem__(name, value)


def _add_position(document: dict) -> None:
    if isinstance(document.get("details"), dict):
        document["details"]["position"] = 0


def _drop(name: str) -> Callable[[bytes, bytes], bytes | None]:
    return lambda header, value: None if header == name.encode() else value


def _bearer_kept(header: bytes, value: bytes) -> bytes:
    return b"Bearer " + value if header == b"authorization" else value


def _bearer_exact(header: bytes, value: bytes) -> bytes | None:
    return None if header == b"authorization" and not value.startswith(b"Bearer ") else value


def _any_scheme(header: bytes, value: bytes) -> bytes:
    """Authorization: whatever the scheme, the word after it is the key."""
    _scheme, space, token = value.strip().partition(b" ")
    if header == b"authorization" and space and token.strip():
        return b"Bearer " + token
    return value


def _bearer_glued(header: bytes, value: bytes) -> bytes:
    """Authorization: 'Bearer' stripped off the front, with or without a space after it."""
    if header == b"authorization" and value[:6].lower() == b"bearer" and value[6:7].strip():
        return b"Bearer " + value[6:]
    return value


def _bare_key(header: bytes, value: bytes) -> bytes:
    """Authorization: a value of one word, no scheme, is the key itself."""
    if header == b"authorization" and len(value.split()) == 1:
        return b"Bearer " + value.strip()
    return value


def _next_month_start(start: date) -> date:
    """The first of the next month, as written without a thought for December."""
    return date(start.year, start.month + 1, 1)


def _next_month_start_wrapped(start: date) -> date:
    """The first of the next month, December handled: 9999-12 still overflows."""
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def _same_day_next_month(start: date) -> date:
    """A month added by replacing the month: the 31st of a month before a short one raises."""
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def _bucket_key(start: date) -> bytes:
    """The period's first second as an unsigned 64-bit key: before 1970 it is negative."""
    return period_bounds(start)[0].to_bytes(8, "big")


UTF8_BOM = b"\xef\xbb\xbf"
STRAY_CHUNK_END = b"0\r\n\r\n"


def _placeholder_first(body: bytes) -> bytes:
    """The usage document with a 0 placeholder for billed_awake_seconds before its members."""
    return body.replace(b"{", b'{"billed_awake_seconds":0,', 1) if body[:1] == b"{" else body


def _bom_first(reply: Reply) -> Reply:
    return dataclasses.replace(reply, body=UTF8_BOM + reply.body)


TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/dcs/usage/handlers.py", line 88, in get_usage\n'
    "    rows = db.execute(USAGE_QUERY, (org_id, period_start))\n"
    "psycopg2.errors.InvalidDatetimeFormat: invalid input syntax for type date\n"
    "LINE 1: SELECT bucket, awake_s, cpu_mcs FROM usage_buckets WHERE org_id = %s AND ..."
)


def _title_with_request_id(document: dict) -> None:
    document["title"] = f"{document['title']} (request {uuid.uuid4().hex[:12]})"


def _title_from_detail(document: dict) -> None:
    document["title"] = document["detail"]


_FAULTS = [
    *family(
        "usage body",
        Fault(
            "usage_field_missing",
            "billed_memory_mib_seconds is left out of the 200 body",
            SCHEMA,
            steps.usage_field("billed_memory_mib_seconds", lambda v: steps.MISSING),
        ),
        Fault(
            "usage_extra_field",
            "the 200 body carries an undocumented field (currency)",
            SCHEMA,
            steps.usage_document(_set("currency", "usd")),
        ),
        Fault(
            "usage_counter_as_string",
            'billed_awake_seconds is serialised as a JSON string ("3600")',
            (*SCHEMA, *RANGE),
            steps.usage_field("billed_awake_seconds", str),
        ),
        Fault(
            "usage_counter_null",
            "provisioned_storage_gib is null (an SQL SUM over no rows)",
            (*SCHEMA, *RANGE),
            steps.usage_field("provisioned_storage_gib", lambda v: None),
        ),
        Fault(
            "usage_counter_float",
            "billed_cpu_millicore_seconds is computed in floating point (2520.0, not 2520)",
            RANGE,
            steps.usage_field("billed_cpu_millicore_seconds", float),
        ),
        Fault(
            "usage_counter_over_int64",
            "billed_logical_storage_mib_seconds is an unsigned 64-bit value above 2^63-1",
            (*RANGE, *SCHEMA),
            steps.usage_field("billed_logical_storage_mib_seconds", lambda v: v + 2**63),
        ),
        Fault(
            "usage_counter_negative",
            "included_storage_gib is -1, a sentinel for 'unlimited'",
            RANGE,
            steps.usage_field("included_storage_gib", lambda v: -1),
        ),
        Fault(
            "plan_slug_empty",
            "plan_slug is an empty string (the plan row was not joined)",
            ("plan_slug_non_empty",),
            steps.usage_field("plan_slug", lambda v: ""),
        ),
        Fault(
            "plan_slug_null",
            "plan_slug is null (a left join found no plan)",
            SCHEMA,
            steps.usage_field("plan_slug", lambda v: None),
        ),
    ),
    *family(
        "error body",
        Fault(
            "error_missing_retryable",
            "error bodies leave out the required retryable",
            SCHEMA,
            steps.error_document(lambda d: d.pop("retryable", None)),
        ),
        Fault(
            "error_extra_field",
            "error bodies carry an undocumented trace_id",
            SCHEMA,
            steps.error_document(_set("trace_id", "4bf92f3577b34da6")),
        ),
        Fault(
            "error_retryable_string",
            'retryable is the string "false", not a boolean',
            (*SCHEMA, "auth_errors_not_retryable"),
            steps.error_document(lambda d: d.__setitem__("retryable", str(d["retryable"]).lower())),
        ),
        Fault(
            "error_code_lowercase",
            "error codes are lower case (auth_invalid)",
            ("error_code_format",),
            steps.error_document(lambda d: d.__setitem__("error_code", d["error_code"].lower())),
        ),
        Fault(
            "error_details_not_strings",
            'details of a 400 hold a number ({"position": 0}); the spec says strings',
            SCHEMA,
            steps.error_document(_add_position),
        ),
        Fault(
            "auth_errors_retryable",
            "401 and 403 say retryable: true",
            ("auth_errors_not_retryable",),
            steps.error_document(_set("retryable", True), statuses=AUTH),
        ),
        Fault(
            "auth_errors_as_problem_json",
            "401 and 403 come from a generic handler as application/problem+json",
            ("content_type_documented",),
            layers.error_reply(steps.auth_as_problem),
        ),
    ),
    *family(
        "auth",
        Fault(
            "auth_codes_swapped",
            "a missing key gets AUTH_INVALID and an unknown key AUTH_REQUIRED",
            ("missing_key_is_auth_required", "wrong_key_is_auth_invalid"),
            steps.auth_errors_mapped(
                {"AUTH_REQUIRED": replies.AUTH_INVALID, "AUTH_INVALID": replies.AUTH_REQUIRED}
            ),
        ),
        Fault(
            "invalid_key_forbidden",
            "an unknown key gets 403 instead of 401",
            ("wrong_key_is_auth_invalid",),
            steps.auth_errors_mapped(
                {
                    "AUTH_INVALID": replies.api_error(
                        403, "AUTH_INVALID", "invalid Dedalus API key", retryable=False
                    )
                }
            ),
        ),
        Fault(
            "missing_key_200",
            "no credentials: status 200 with the AUTH_REQUIRED error body",
            ("missing_key_is_auth_required", *SCHEMA),
            layers.error_reply(steps.auth_required_as_200),
        ),
        Fault(
            "bearer_prefix_kept",
            "Authorization: the whole value, 'Bearer ' included, is looked up as the key",
            ("valid_key_accepted", "same_answer"),
            steps.auth_headers_rewritten(_bearer_kept),
        ),
        Fault(
            "bearer_scheme_case_sensitive",
            "only 'Bearer' is accepted as the scheme; 'bearer <key>' is refused",
            ("same_answer",),
            steps.auth_headers_rewritten(_bearer_exact),
        ),
        Fault(
            "x_api_key_ignored",
            "the x-api-key header is never read: only Authorization works",
            ("valid_key_accepted", "same_answer"),
            steps.auth_headers_rewritten(_drop("x-api-key")),
        ),
        Fault(
            "header_names_case_sensitive",
            "credential and org header names only count in lower case",
            ("same_answer", "valid_key_accepted"),
            wire.lowercase_header_names(*CRED_HEADERS),
        ),
        Fault(
            "key_prefix_match",
            "API keys are compared on their first 20 characters only",
            ("wrong_key_is_auth_invalid",),
            steps.key_prefix_match(20),
        ),
        Fault(
            "org_header_ignored",
            "X-Dedalus-Org-Id is ignored: any org id is accepted with any key",
            ("org_mismatch_forbidden",),
            steps.org_check(steps.ignore_org),
        ),
        Fault(
            "own_org_header_forbidden",
            "any X-Dedalus-Org-Id, even the key's own org, gets 403",
            ("valid_key_accepted",),
            steps.org_check(steps.refuse_any_org),
        ),
    ),
    *family(
        "period",
        Fault(
            "default_period_previous_month",
            "without period_start the previous month is served",
            ("default_period_is_current_month",),
            steps.period_default_previous_month(),
        ),
        Fault(
            "impossible_dates_rolled_over",
            "2025-02-30 is accepted and rolled over to 2025-03-02 (like mktime)",
            ("malformed_period_rejected",),
            steps.period_rolled_over(),
        ),
        Fault(
            "malformed_period_500",
            "a period_start that does not parse raises: 500",
            ("malformed_period_rejected", "st.not_a_server_error"),
            steps.period_errors_crash(),
        ),
        Fault(
            "mid_month_period_500",
            "a real date that is not the 1st crashes the bucket lookup: 500",
            ("period_start_any_valid_date", "st.not_a_server_error"),
            steps.period_mid_month_crash(),
        ),
        Fault(
            "current_month_refused",
            "off by one: an explicit period_start must be before this month, so 400 for it",
            ("valid_period_accepted", "default_period_is_current_month"),
            steps.period_current_month_refused(),
        ),
        Fault(
            "future_period_billed",
            "periods are billed to their end, as a forecast: future months are not 0",
            ("future_period_unbilled",),
            steps.usage_step(steps.billed_to_period_end),
        ),
        Fault(
            "period_start_ignored",
            "the server reads periodStart, so period_start is ignored",
            ("future_period_unbilled", "malformed_period_rejected"),
            steps.period_ignored(),
        ),
        # Invisible in the first hour of a UTC month: every open-period counter is still 0.
        Fault(
            "open_period_decreasing",
            "every other read comes from a replica 3 hours behind: counters go back",
            ("open_period_monotonic",),
            steps.usage_step(steps.lagging_replica(timedelta(hours=3))),
        ),
        Fault(
            "closed_period_jitter",
            "counters are sampled estimates: a closed month differs between reads",
            ("closed_period_stable", "same_answer"),
            steps.usage_step(steps.jittered),
        ),
    ),
    *family(
        "content type and method",
        Fault(
            "usage_as_text_plain",
            "the 200 JSON body is served as text/plain",
            ("content_type_documented",),
            steps.usage_media_type("text/plain"),
        ),
        Fault(
            "html_error_pages",
            "every 4xx to a GET on /v1/usage, the API's own 400 and 401 included, is a "
            "proxy's HTML error page",
            ("content_type_documented",),
            layers.wire(wire.usage_get, wire.html_refusals),
        ),
        Fault(
            "unknown_param_html_500",
            "an undeclared query parameter crashes into an HTML 500 page",
            ("content_type_documented", "unknown_params_harmless"),
            layers.wire(wire.unknown_param, wire.html_page(500, "Internal Server Error")),
        ),
        Fault(
            "post_answered_as_get",
            "POST /v1/usage is routed to the GET handler: 200",
            ("undeclared_method_refused", "st.unsupported_method"),
            steps.allow_post(),
        ),
        Fault(
            "method_not_allowed_without_allow",
            "405 comes without the Allow header",
            ("undeclared_method_refused",),
            layers.error_reply(steps.without_allow),
        ),
    ),
    *family(
        "transport",
        Fault(
            "truncated_json",
            "the 200 body is cut in half (Content-Length of the cut body)",
            SCHEMA,
            steps.usage_bytes(lambda body: body[: len(body) // 2]),
        ),
        Fault(
            "empty_200_body",
            "200 with an empty body",
            SCHEMA,
            steps.usage_bytes(lambda body: b""),
        ),
        Fault(
            "invalid_utf8_body",
            "the 200 body is written in Latin-1 with an accented plan name: not UTF-8",
            SCHEMA,
            steps.invalid_utf8(),
        ),
        Fault(
            "reset_mid_response",
            "requests with period_start: head and half the body, then a TCP reset",
            ("complete_response",),
            layers.wire(wire.has_period_start, wire.reset_mid_body),
        ),
        Fault(
            "slow_dribble_old_periods",
            "periods over a year old come from cold storage, one byte every 0.25 s",
            ("complete_response",),
            layers.wire(wire.older_than_a_year, wire.dribble(0.25)),
        ),
        Fault(
            "hang_mid_month",
            "a real date that is not the 1st waits on a lock: no answer until the client leaves",
            ("complete_response",),
            layers.wire(wire.mid_month, wire.hang(30.0)),
        ),
        Fault(
            "huge_body_bad_period",
            "a period_start that does not parse gets a 50 MiB text/plain debug dump",
            ("complete_response",),
            layers.wire(wire.unparseable_period, wire.huge_body(50 << 20)),
        ),
    ),
    # Wrong figures that stay integers, stable and monotonic: only ground truth shows them,
    # the canary org's known usage (--expect) and an org with no usage (--empty-org-key).
    *family(
        "ground truth",
        Fault(
            "open_hour_counted",
            "the running hour is counted pro rata before it closes",
            ("canary_open_period_within_bounds",),
            steps.usage_step(steps.open_hour_counted),
        ),
        Fault(
            "deleted_storage_counted",
            "provisioned_storage_gib also sums machines already deleted",
            ("canary_storage_current",),
            steps.usage_step(steps.deleted_storage_counted),
        ),
        Fault(
            "other_orgs_counters",
            "counters come from another org (a join on the wrong column), the plan is right",
            ("canary_closed_period_exact", "empty_org_unbilled"),
            steps.usage_step(steps.other_orgs_counters),
        ),
    ),
    # Credentials as an attacker presents them: near-miss keys and org ids, keys where the
    # spec does not put them, malformed values, and credentials remembered between requests.
    *family(
        "credentials",
        Fault(
            "any_auth_scheme_accepted",
            "Authorization: the scheme is never checked, the word after it is the key "
            "(Token, ApiKey, Basic <key> all work)",
            ("malformed_credentials_refused",),
            steps.auth_headers_rewritten(_any_scheme),
        ),
        Fault(
            "bearer_without_space",
            "Authorization: the key is the value with 'Bearer' stripped off the front, so "
            "'Bearer<key>' works",
            ("malformed_credentials_refused",),
            steps.auth_headers_rewritten(_bearer_glued),
        ),
        Fault(
            "bare_key_in_authorization",
            "Authorization: a value without a scheme is taken as the key itself",
            ("malformed_credentials_refused",),
            steps.auth_headers_rewritten(_bare_key),
        ),
        Fault(
            "long_key_crash",
            "the key lookup binds the presented value to a varchar(1000): a longer one raises, 500",
            ("malformed_credentials_refused",),
            steps.crash_on_credentials(lambda value: len(value) > 1000),
        ),
        Fault(
            "non_ascii_key_crash",
            "credential headers are decoded as ASCII: a byte that is not ASCII raises, 500",
            ("malformed_credentials_refused",),
            steps.crash_on_credentials(lambda value: not value.isascii()),
        ),
        Fault(
            "key_case_insensitive",
            "API keys are compared case-insensitively (lower() on both sides)",
            ("wrong_key_is_auth_invalid",),
            steps.key_matched(lambda sent, key: sent.lower() == key.lower()),
        ),
        Fault(
            "key_prefix_accepted",
            "the key lookup is LIKE 'presented%': any prefix of a key, 8 characters or more, "
            "is accepted",
            ("wrong_key_is_auth_invalid",),
            steps.key_matched(lambda sent, key: len(sent) >= 8 and key.startswith(sent)),
        ),
        Fault(
            "org_id_case_insensitive",
            "X-Dedalus-Org-Id is compared with the key's org case-insensitively",
            ("foreign_org_refused",),
            steps.org_compared(lambda sent, own: sent.lower() == own.lower()),
        ),
        Fault(
            "org_id_prefix_match",
            "X-Dedalus-Org-Id matches the key's org when either id starts with the other",
            ("foreign_org_refused",),
            steps.org_compared(lambda sent, own: sent.startswith(own) or own.startswith(sent)),
        ),
        Fault(
            "api_key_in_query",
            "a middleware for browser clients copies ?api_key= (or ?access_token=) into x-api-key",
            ("key_only_where_declared",),
            layers.wire(wire.without_credentials, wire.key_from_query("api_key", "access_token")),
        ),
        Fault(
            "api_key_in_cookie",
            "the dashboard's cookie auth also takes an api_key cookie as the API key",
            ("key_only_where_declared",),
            steps.key_also_from(steps.cookie("api_key")),
        ),
        Fault(
            "alternate_key_headers",
            "the legacy SDK's X-Auth-Token and Api-Key headers are still read as the API key",
            ("key_only_where_declared",),
            steps.key_also_from(steps.header("x-auth-token", "api-key")),
        ),
        Fault(
            "auth_sticky_connection",
            "the auth middleware caches the org on the connection: later requests on it "
            "without a valid key get that org's usage",
            ("no_credential_carry_over",),
            layers.wire(wire.everything, wire.sticky_auth),
        ),
        Fault(
            "previous_request_org",
            "each request on a kept-alive connection is answered for the org of the previous "
            "request on it (the auth middleware records the org only once the answer is sent)",
            ("no_org_carry_over", "empty_org_unbilled"),
            layers.wire(wire.everything, wire.previous_request_org),
        ),
        Fault(
            "concurrent_requests_share_org",
            "the auth middleware keeps the request's org in one variable for the whole server, "
            "read back once the org's ledger is loaded (30 ms when the org changes): requests "
            "of two orgs in flight at the same time are answered for the org authenticated last",
            ("no_org_carry_over",),
            lambda app: layers.WireLayer(app, wire.everything, wire.CurrentOrg()),
        ),
        Fault(
            "cache_ignores_credentials",
            "200 answers are cached for a minute keyed by URL only, and served whatever the "
            "next request's credentials",
            ("no_credential_carry_over", "missing_key_is_auth_required"),
            lambda app: layers.WireLayer(app, wire.everything, wire.UrlCache()),
        ),
    ),
    # The declared path spelled another way: a router more lenient than the auth in front.
    *family(
        "paths",
        Fault(
            "trailing_slash_unauthenticated",
            "the auth middleware guards exactly /v1/usage; the router also serves /v1/usage/, "
            "unauthenticated, with the default org's usage",
            ("path_variant_guarded",),
            layers.wire(wire.trailing_slash, wire.default_org),
        ),
        Fault(
            "case_insensitive_route_unauthenticated",
            "the router matches paths case-insensitively, the auth middleware does not: "
            "/V1/USAGE is served unauthenticated",
            ("path_variant_guarded",),
            layers.wire(wire.other_case, wire.default_org),
        ),
        Fault(
            "encoded_path_unauthenticated",
            "the router percent-decodes the path (/v1/%75sage), the auth middleware checks it "
            "raw: served unauthenticated",
            ("path_variant_guarded",),
            layers.wire(wire.percent_encoded, wire.default_org),
        ),
        Fault(
            "dot_segments_unauthenticated",
            "the router resolves dot segments and doubled slashes (/v1/./usage, /v1//usage), "
            "the auth middleware does not: served unauthenticated",
            ("path_variant_guarded",),
            layers.wire(wire.dot_segments, wire.default_org),
        ),
        Fault(
            "path_variant_crash",
            "a doubled slash in the path crashes the router: 500",
            ("path_variant_guarded", "path_variant_same_contract"),
            layers.wire(wire.doubled_slash, wire.reply(steps.CRASH)),
        ),
    ),
    *family(
        "secrets",
        Fault(
            "key_echoed_in_errors",
            "401 and 403 messages quote the presented key ('invalid API key dcs_...', "
            "'key dcs_... does not own org ...')",
            ("key_never_echoed",),
            steps.key_echoed_in_errors(),
        ),
        Fault(
            "key_in_debug_header",
            "a debug middleware left on: every answer carries X-Debug-Auth, the presented "
            "key in base64",
            ("key_never_echoed",),
            layers.wire(wire.everything, wire.with_response_headers(wire.debug_auth)),
        ),
        Fault(
            "request_line_in_errors",
            "4xx messages end with the request line, query string included (a key sent as "
            "?api_key= comes back)",
            ("key_never_echoed",),
            layers.wire(wire.everything, wire.request_line_in_errors),
        ),
    ),
    *family(
        "calendar",
        Fault(
            "lenient_iso8601_dates",
            "period_start is parsed with date.fromisoformat, which also takes 20250101 and "
            "2025-W01-1",
            ("malformed_period_rejected",),
            steps.period_parsed_with(date.fromisoformat),
        ),
        Fault(
            "december_period_crash",
            "the period end is date(year, month + 1, 1): any December raises, 500",
            ("period_start_any_valid_date", "valid_period_accepted"),
            steps.period_math_crash(_next_month_start),
        ),
        Fault(
            "empty_period_as_epoch",
            "an empty period_start= is read as 0, the Unix epoch: January 1970's figures, "
            "neither a 400 nor the default period",
            ("empty_period_refused_or_default",),
            steps.period_empty_as_epoch(),
        ),
        Fault(
            "year_9999_period_crash",
            "the period end is date(year + month // 12, month % 12 + 1, 1): 9999-12 overflows, 500",
            ("period_start_any_valid_date",),
            steps.period_math_crash(_next_month_start_wrapped),
        ),
        Fault(
            "pre_epoch_period_crash",
            "the ledger's bucket key is the period's epoch second as an unsigned 64-bit value: "
            "before 1970 it raises, 500",
            ("period_start_any_valid_date", "st.not_a_server_error"),
            steps.period_math_crash(_bucket_key),
        ),
        Fault(
            "month_end_period_crash",
            "the period end is start.replace(month=next month): a 29th to 31st that the next "
            "month lacks raises, 500",
            ("period_start_any_valid_date",),
            steps.period_math_crash(_same_day_next_month),
        ),
    ),
    *family(
        "JSON on the wire",
        Fault(
            "duplicate_member_names",
            "a hand-rolled serializer writes billed_awake_seconds twice: a 0 placeholder "
            "first, the total later",
            ("json_wire_format",),
            steps.usage_bytes(_placeholder_first),
        ),
        Fault(
            "utf8_bom",
            "JSON bodies are encoded as utf-8-sig: each starts with a byte order mark",
            ("json_wire_format", *SCHEMA),
            steps.chain(
                steps.usage_bytes(lambda body: UTF8_BOM + body), layers.error_reply(_bom_first)
            ),
        ),
        Fault(
            "trailing_data_after_json",
            "the usage handler writes the chunk terminator 0\\r\\n\\r\\n itself after the "
            "document, inside Content-Length",
            ("json_wire_format", *SCHEMA),
            steps.usage_bytes(lambda body: body + STRAY_CHUNK_END),
        ),
        Fault(
            "gzip_label_plain_body",
            "answers to requests with period_start are labelled Content-Encoding: gzip but "
            "sent uncompressed",
            ("complete_response",),
            layers.wire(wire.has_period_start, wire.with_response_headers(wire.gzip_label)),
        ),
    ),
    *family(
        "contract sentences",
        Fault(
            "storage_as_of_period_end",
            "provisioned_storage_gib is the storage at the period's end, not now",
            ("current_storage_same_for_every_period", "canary_storage_current"),
            steps.usage_step(steps.storage_at_period_end),
        ),
        Fault(
            "request_errors_retryable",
            "400 answers say retryable: true",
            ("request_errors_not_retryable",),
            steps.error_document(_set("retryable", True), statuses=frozenset({400})),
        ),
        Fault(
            "negative_retry_hint",
            "the ledger blips: every 10th usage answer is 502 BILLING_LEDGER_UNAVAILABLE with "
            "retry_after_ms: -1 for 'retry at once'; the retry goes through",
            ("retry_hint_non_negative",),
            lambda app: layers.WireLayer(app, wire.everything, wire.NegativeHintBlips()),
        ),
        Fault(
            "problem_status_mismatch",
            "problem+json documents say status 400 whatever the response's status (copied "
            "from the validation handler)",
            ("problem_status_matches",),
            steps.error_document(_set("status", 400), media_type=replies.PROBLEM_JSON),
        ),
        Fault(
            "problem_title_per_request",
            "the 405 problem's title carries the request id",
            ("problem_title_stable",),
            steps.error_document(
                _title_with_request_id, statuses=frozenset({405}), media_type=replies.PROBLEM_JSON
            ),
        ),
        Fault(
            "cpu_minimum_charge",
            "a minimum CPU charge of 1,000 millicore-seconds in every period, even one where "
            "nothing was awake",
            ("counters_consistent", "future_period_unbilled", "empty_org_unbilled"),
            steps.usage_step(steps.cpu_minimum_charge),
        ),
        Fault(
            "memory_in_gib_hours",
            "billed_memory_mib_seconds is read from the GiB-hours meter: MiB-seconds divided "
            "by 3,686,400, less than the awake seconds",
            ("counters_consistent", "canary_closed_period_exact"),
            steps.usage_field("billed_memory_mib_seconds", lambda v: v // 3_686_400),
        ),
        Fault(
            "cpu_at_allocation",
            "CPU billed as requested millicores times awake seconds, not times active CPU seconds",
            ("canary_cpu_within_bounds", "canary_open_period_within_bounds"),
            steps.usage_step(steps.cpu_at_allocation),
        ),
        Fault(
            "included_storage_prorated",
            "included_storage_gib prorated by the days of the period's month: the plan's "
            "figure only in 31-day months",
            ("plan_determines_included_storage",),
            steps.usage_step(steps.included_storage_prorated),
        ),
        Fault(
            "memory_billed_while_asleep",
            "memory is billed for every second a machine exists, awake or asleep",
            ("canary_closed_period_exact",),
            steps.usage_step(steps.memory_while_asleep),
        ),
    ),
    *family(
        "HTTP messages",
        Fault(
            "no_date",
            "no answer carries a Date header field (the clock is left out of the framework's "
            "default headers)",
            ("date_present",),
            layers.wire(lambda scope: False, layers.passthrough, wire.DatelessProtocol),
        ),
        Fault(
            "not_modified_with_content",
            "usage 200s carry a strong ETag; an If-None-Match naming it gets 304 with the "
            "200's Content-Length and content after it (only the status is swapped)",
            ("not_modified_has_no_content",),
            layers.wire(wire.everything, wire.not_modified_with_content, MockHttpToolsProtocol),
        ),
        Fault(
            "not_modified_bare",
            "usage 200s carry a strong ETag; an If-None-Match naming it gets a fresh, empty "
            "304 without the ETag or any other field of the 200 (RFC 9110 15.4.5)",
            ("not_modified_as_200",),
            layers.wire(wire.everything, wire.not_modified(())),
        ),
        Fault(
            "not_modified_zero_length",
            "usage 200s carry a strong ETag; an If-None-Match naming it gets 304 with the "
            "200's fields and Content-Length: 0 (RFC 9110 8.6: none, or the 200's)",
            ("not_modified_as_200",),
            layers.wire(
                wire.everything,
                wire.not_modified(
                    (b"cache-control", b"content-location", b"etag", b"expires", b"vary"), b"0"
                ),
            ),
        ),
        Fault(
            "options_precondition_failed",
            "a conditional-request middleware evaluates If-Match for OPTIONS too: an OPTIONS "
            "whose If-Match names no tag gets 412 (RFC 9110 13.2.1: ignored for OPTIONS)",
            ("options_ignores_conditions",),
            layers.wire(wire.conditional_options, wire.precondition_failed),
        ),
        Fault(
            "problem_instance_with_userinfo",
            "problem documents name their occurrence with an internal URL that carries the "
            "service's credentials (instance: https://svc-usage:...@usage.internal/...)",
            ("generated_uris_well_formed",),
            steps.error_document(
                _set("instance", "https://svc-usage:s3cr3t@usage.internal/errors/7f3a"),
                media_type=replies.PROBLEM_JSON,
            ),
        ),
        Fault(
            "early_hints_to_http10",
            "a 103 Early Hints precedes every final answer, to HTTP/1.0 requests too (RFC 9110 "
            "15.2: no 1xx to an HTTP/1.0 client)",
            ("no_interim_to_http10",),
            layers.wire(wire.everything, wire.early_hints_to_all, layers.WireProtocol),
        ),
        Fault(
            "connection_close_ignored",
            "a request with Connection: close is answered Connection: keep-alive and the "
            "connection left open until the idle timeout",
            ("connection_close_honoured",),
            layers.wire(
                wire.asks_close, wire.with_response_headers(wire.keep_alive), wire.KeepAliveProtocol
            ),
        ),
        Fault(
            "cors_reflects_any_origin",
            "every answer to a request with an Origin allows that origin, whatever it is, "
            "with Access-Control-Allow-Credentials: true",
            ("cors_credentials_not_any_origin",),
            layers.wire(wire.everything, wire.with_response_headers(wire.reflected_origin)),
        ),
        Fault(
            "cors_origin_list",
            "answers to a request with an Origin list the console's two origins in one "
            "Access-Control-Allow-Origin (as written in the config file)",
            ("cors_allow_origin_one_value",),
            layers.wire(wire.everything, wire.with_response_headers(wire.origin_list)),
        ),
        Fault(
            "cors_credentials_capitalised",
            "answers to a request with an Origin allow the console with "
            "Access-Control-Allow-Credentials: True (a boolean's repr)",
            ("cors_fields_well_formed",),
            layers.wire(wire.everything, wire.with_response_headers(wire.credentials_capitalised)),
        ),
        Fault(
            "cors_echo_without_vary",
            "answers to a request with an Origin name it in Access-Control-Allow-Origin (no "
            "credentials) without Vary: Origin",
            ("cors_echo_varies_on_origin",),
            layers.wire(wire.everything, wire.with_response_headers(wire.origin_echo_without_vary)),
        ),
        Fault(
            "preflight_granted_with_405",
            "a CORS-preflight gets every field it asks for added to the app's 405 (a proxy's "
            "add_header ... always on top of an app that does not route OPTIONS)",
            ("preflight_answer_ok",),
            layers.wire(wire.everything, wire.with_response_headers(wire.preflight_grant)),
        ),
        Fault(
            "problem_title_is_detail",
            "about:blank problem documents carry their detail text as title (the framework's "
            "handler fills both from the exception's message)",
            ("about_blank_title_is_status_phrase",),
            steps.error_document(_title_from_detail, media_type=replies.PROBLEM_JSON),
        ),
        Fault(
            "traceback_in_errors",
            "400 and 500 messages are the handler's Python traceback, with its file paths and "
            "the failed SQL",
            ("errors_reveal_no_internals",),
            steps.error_document(_set("message", TRACEBACK), statuses=frozenset({400, 500})),
        ),
    ),
    *family(
        "tenancy",
        Fault(
            "org_query_parameter_switches_tenant",
            "a handler left from the admin console reads ?org_id= and answers a valid key for "
            "the org it names, whichever that is",
            ("no_undeclared_org_selector",),
            layers.wire(wire.org_selected, wire.org_from_query),
        ),
        Fault(
            "org_existence_oracle",
            "X-Dedalus-Org-Id naming another org gets 403 AUTH_ORG_MISMATCH, but for an id no "
            "org has the message says 'organization ... does not exist'",
            ("org_existence_not_revealed",),
            steps.org_existence_told(),
        ),
    ),
    *family(
        "the message as HTTP frames it",
        Fault(
            "date_not_imf_fixdate",
            "every answer's Date is in the obsolete RFC 850 form (Sunday, 06-Dec-26 ...), "
            "which a sender must not generate (RFC 9110 5.6.7)",
            ("http_message_lint",),
            layers.wire(
                wire.everything, wire.with_response_headers(wire.rfc850_date), wire.OwnDateProtocol
            ),
        ),
        Fault(
            "last_modified_after_date",
            "200s carry a Last-Modified a day later than their own Date (RFC 9110 8.8.2.1)",
            ("http_message_lint",),
            layers.wire(wire.everything, request_wire.on_success(wire.modified_tomorrow)),
        ),
        Fault(
            "etag_weak_lower_case",
            'usage answers are tagged w/"..." (the weak indicator is the case-sensitive W/, '
            "RFC 9110 8.8.3): no entity-tag, which caches and conditionals cannot use",
            ("http_message_lint",),
            layers.wire(wire.has_period_start, wire.weak_etag_lower_case),
        ),
    ),
    # The whole request space (methods, header fields, targets, equivalent requests).
    *request_space.FAULTS,
    # The HTTP/1.1 layer (RFC 9112): requests malformed at its level.
    *http1.FAULTS,
]

#: Every fault of the catalogue, by name, in catalogue order.
FAULTS: dict[str, Fault] = {fault.name: fault for fault in _FAULTS}

#: Faults the suite does not catch, and why: listed in the kill matrix, never hidden. The
#: wrong figures that stay integers, stable and monotonic are caught since the suite checks
#: ground truth ("ground truth" above); a 401 without a challenge is only warned of.
KNOWN_LIMITS: tuple[KnownLimit, ...] = (
    KnownLimit(
        Fault(
            "no_auth_challenge",
            "401s carry no WWW-Authenticate challenge (RFC 9110 11.6.1, RFC 6750 3: a MUST), "
            "as a server written from the spec, which documents none, would answer",
            (),
            layers.wire(wire.everything, wire.without_response_header(b"www-authenticate")),
        ),
        "auth_challenge_sent reports it as a warning, never a failure "
        "(readings.CHALLENGE_MISSING): the spec documents no WWW-Authenticate",
    ),
)
LIMITS: dict[str, KnownLimit] = {limit.fault.name: limit for limit in KNOWN_LIMITS}


def get_fault(name: str) -> Fault:
    """The fault (or known limit) called ``name``; KeyError listing the names otherwise."""
    if name in FAULTS:
        return FAULTS[name]
    if name in LIMITS:
        return LIMITS[name].fault
    raise KeyError(f"unknown fault {name!r}; see --list-faults")


def apply_fault(app: ASGIApp, name: str) -> ASGIApp:
    """Install fault ``name`` on a ``create_app`` app (or one already faulty); serve the result."""
    return get_fault(name).apply(app)


def faulty_app(
    fixtures: Fixtures | None = None, faults: Iterable[str] = (), *, clock: Clock | None = None
) -> ASGIApp:
    """A mock app with ``faults`` installed, in order (unknown names: KeyError before any)."""
    return layered_app(fixtures, [get_fault(name).apply for name in faults], clock=clock)


def catalogue_text() -> str:
    """The catalogue as text, one line per fault: name, description, [expected checks]."""
    width = max(len(name) for name in [*FAULTS, *LIMITS])
    lines = [
        f"{f.name:<{width}}  {f.description}  [{', '.join(f.expected_checks)}]"
        for f in FAULTS.values()
    ]
    if KNOWN_LIMITS:
        lines.append("known limits (no check catches them without false alarms):")
        lines += [f"{k.fault.name:<{width}}  {k.fault.description}" for k in KNOWN_LIMITS]
    return "\n".join(lines) + "\n"
