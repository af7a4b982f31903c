"""HTTP's semantics on the usage path beyond the spec's GET: every method with no key and with
a wrong one (and a POST that says it stands for a GET, and a request that says it comes from
inside), HEAD as GET without content, and OPTIONS, TRACE and methods no one defines revealing
nothing. That no answer to a credentialed request is left for a shared cache to hand out is
a response check: it judges every answer of the run."""

import email.utils
from typing import Any

import pytest

from conformance._contract import readings
from conformance._contract.http import set_cookies
from conformance._core.dates import CLOSED_PERIOD_OFFSET, month_start
from conformance._run.session import WRONG_KEY, Raw
from conformance.checks import http, messages
from conformance.plugin import suite_contract

CLOSED = month_start(CLOSED_PERIOD_OFFSET).isoformat()
SCHEMES = [scheme.label for scheme in suite_contract().auth_schemes]
#: No key, and a wrong key by each of the spec's schemes.
CREDENTIALS = [("none", None), *((f"wrong-{scheme}", scheme) for scheme in SCHEMES)]
#: Methods that are neither GET nor HEAD: they are never answered with usage.
OTHER_METHODS = [m for m in readings.PROBED_METHODS if m not in ("GET", "HEAD")]
#: HEAD compared with GET: a usage answer, a refusal of the period, a refusal of the key.
HEAD_CASES: dict[str, dict[str, Any]] = {
    "closed_period": {"period_start": CLOSED},
    "malformed_period": {"period_start": "2025-13-01"},
    "no_key": {"period_start": CLOSED, "scheme": None},
}


def probe(dcs, method):
    """Skip unless this method may be sent: GET always; another only with method probes on,
    and never one the spec declares as a write for the path."""
    if method != "GET" and not dcs.settings.method_probes:
        pytest.skip("--no-method-probes: only GET is sent")
    if dcs.contract.declared_write(method, dcs.usage.path) is not None:
        pytest.skip(f"the spec declares {method} {dcs.usage.path}: a write, never sent")


#: How a HEAD is sent: written byte for byte with a GET after it on the connection, so
#: that content sent after its header section shows (as the HEAD's body).
HEAD_WIRE = Raw(then_get=True)


def keyless(dcs, method, scheme, raw=None, **kwargs):
    """The usage request by `method` with no key (`scheme` None) or a wrong one, for the
    closed period."""
    raw = HEAD_WIRE if method == "HEAD" else raw
    return dcs.send_usage(
        method=method, scheme=scheme, key=WRONG_KEY, period_start=CLOSED, raw=raw, **kwargs
    )


@pytest.mark.parametrize("method", readings.PROBED_METHODS)
def test_no_usage_without_valid_key(dcs, method):
    probe(dcs, method)
    reference = dcs.plain(CLOSED)
    exchanges = dcs.together(*(lambda s=s: keyless(dcs, method, s) for _, s in CREDENTIALS))
    fields = dcs.usage_fields
    for exchange in exchanges:
        checks = [lambda e=exchange: http.no_usage_without_valid_key(fields, reference, e)]
        if method in OTHER_METHODS:
            checks.append(lambda e=exchange: http.options_reveals_nothing(fields, reference, e))
        dcs.judge(exchange, *checks)


@pytest.mark.parametrize("override", readings.METHOD_OVERRIDES)
def test_method_override_without_key(dcs, override):
    probe(dcs, "POST")
    reference = dcs.plain(CLOSED)
    exchange = keyless(dcs, "POST", None, headers={override: "GET"})
    dcs.judge(
        exchange, lambda: http.no_usage_without_valid_key(dcs.usage_fields, reference, exchange)
    )


#: What must not stand for a key: fields saying where a request comes from (a server that
#: trusts them from anyone lets a loopback address in), conditions that a cache in front of
#: the auth would answer with 304 (`{etag}`: the plain answer's ETag, if any), and another
#: version or form of the request line (a legacy pool, a router that matches the whole
#: target). Each: the fields added, and how the request goes on the wire.
KEYLESS_CASES: dict[str, tuple[dict[str, str], Raw | None]] = {
    "x_forwarded_for_loopback": ({"X-Forwarded-For": "127.0.0.1"}, None),
    "x_real_ip_loopback": ({"X-Real-IP": "127.0.0.1"}, None),
    "forwarded_loopback": ({"Forwarded": "for=127.0.0.1;host=localhost;proto=https"}, None),
    "x_forwarded_host_localhost": ({"X-Forwarded-Host": "localhost"}, None),
    # the path a rewriting proxy says it rewrote: a public one, for a server that guards by it
    "x_original_url_root": ({"X-Original-URL": "/"}, None),
    "x_rewrite_url_health": ({"X-Rewrite-URL": "/health"}, None),
    # who the user says they are (RFC 9110 10.1.2: never access control)
    "from_operator": ({"From": "admin@example.com"}, None),
    "if_none_match_any": ({"If-None-Match": "*"}, None),
    "if_none_match_current": ({"If-None-Match": "{etag}"}, None),
    "if_modified_since_now": ({"If-Modified-Since": email.utils.formatdate(usegmt=True)}, None),
    "absolute_form": ({}, Raw(absolute_form=True)),
    "http_1_0": ({}, Raw("1.0")),
}


@pytest.mark.parametrize("case", list(KEYLESS_CASES))
def test_keyless_requests_get_nothing(dcs, case):
    reference = dcs.plain(CLOSED)
    etag = reference.headers.get("etag", '"dcs-conformance"')
    fields, raw = KEYLESS_CASES[case]
    headers = {k: v.replace("{etag}", etag) for k, v in fields.items()}
    exchange = keyless(dcs, "GET", None, headers=headers, raw=raw)
    dcs.judge(
        exchange, lambda: http.no_usage_without_valid_key(dcs.usage_fields, reference, exchange)
    )


def test_cookies_the_server_sets_are_no_key(dcs):
    """Whatever cookies a keyed answer sets (a session, a load balancer's stickiness), sent
    back without a key they get nothing: the spec's schemes are the only credentials."""
    reference = dcs.plain(CLOSED)
    cookies = set_cookies(reference.headers.get("set-cookie", ""))
    headers = {"Cookie": "; ".join(cookies)} if cookies else {}
    exchange = keyless(dcs, "GET", None, headers=headers)
    dcs.judge(
        exchange, lambda: http.no_usage_without_valid_key(dcs.usage_fields, reference, exchange)
    )


@pytest.mark.parametrize("case", list(HEAD_CASES))
def test_head_matches_get(dcs, case):
    probe(dcs, "HEAD")
    request = HEAD_CASES[case]
    get, head = dcs.together(
        lambda: dcs.send_usage(**request),
        lambda: dcs.send_usage(method="HEAD", raw=HEAD_WIRE, **request),
    )
    dcs.judge(head, lambda: http.head_matches_get(get, head))
    dcs.judge(get)


#: Methods that read nothing, sent with the valid key: they still reveal no usage.
DESCRIBING_METHODS = ["OPTIONS", "TRACE", "QUERY", "PROPFIND", "FOO"]


@pytest.mark.parametrize("method", DESCRIBING_METHODS)
def test_other_methods_reveal_nothing(dcs, method):
    probe(dcs, method)
    reference = dcs.plain(CLOSED)
    exchange = dcs.send_usage(method=method, period_start=CLOSED)
    dcs.judge(exchange, lambda: http.options_reveals_nothing(dcs.usage_fields, reference, exchange))


def test_options_ignores_conditions(dcs):
    """OPTIONS with the key, with and without an If-Match naming no tag: the precondition is
    ignored (RFC 9110 13.2.1), so no 412 where the plain OPTIONS got none."""
    probe(dcs, "OPTIONS")
    plain, conditional = dcs.together(
        lambda: dcs.send_usage(method="OPTIONS", period_start=CLOSED),
        lambda: dcs.send_usage(
            method="OPTIONS", period_start=CLOSED, headers={"If-Match": '"dcs-conformance"'}
        ),
    )
    dcs.judge(conditional, lambda: http.options_ignores_conditions(plain, conditional))
    dcs.judge(plain)


#: An origin no DCS deployment serves: a credentialed CORS answer must not open to it.
FOREIGN_ORIGIN = "https://dcs-conformance.invalid"


def test_cors_opens_to_no_foreign_origin(dcs):
    """A usage read and a CORS preflight from a made-up origin: neither answer allows it (or
    any origin) with credentials (`cors_credentials_not_any_origin`, on every answer)."""
    preflight = {
        "Origin": FOREIGN_ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-api-key, authorization",
    }
    calls = [lambda: dcs.send_usage(period_start=CLOSED, headers={"Origin": FOREIGN_ORIGIN})]
    declared = dcs.contract.declared_write("OPTIONS", dcs.usage.path) is not None
    if dcs.settings.method_probes and not declared:
        calls.append(lambda: dcs.send_usage(method="OPTIONS", scheme=None, headers=preflight))
    for exchange in dcs.together(*calls):
        dcs.judge(exchange)


def test_not_modified_has_no_content(dcs):
    """A GET with the key whose If-None-Match names the current answer's ETag (or `*`), written
    byte for byte: a 304, if the server evaluates it, ends at its header section and carries
    the 200's metadata (`messages.not_modified_as_200`)."""
    reference = dcs.plain(CLOSED)
    tag = reference.headers.get("etag") or "*"
    answer = dcs.send_usage(period_start=CLOSED, headers={"If-None-Match": tag}, raw=Raw())
    dcs.judge(answer, lambda: messages.not_modified_as_200(reference, answer))


def test_connection_close_honoured(dcs):
    """A GET with the key and `Connection: close`, written byte for byte: the server closes
    the connection after its answer (`connection_close_honoured`, on every answer)."""
    dcs.judge(dcs.send_usage(period_start=CLOSED, headers={"Connection": "close"}, raw=Raw()))
