"""The request space beyond the spec's parameters: the standard header fields real clients,
browsers, SDKs, gateways and proxies send (valid, unusual and hostile values), request-targets
of every shape, and the transformations that must not change an answer. Each is a fixed list
of examples that always runs, and hypothesis strategies that explore new combinations on
every run (the same ones under the gate profile). The oracle is the plain valid request for
a closed period: the same answer (status and whole body), or a refusal HTTP names for what
the request asks; never a 5xx, never a hang. Sizes stay within a polite bound: at most 8 KiB
in one field and 12 KiB of fields, 4 KiB of request-target."""

from __future__ import annotations

import datetime as dt
import email.utils
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from conformance._contract.spec import ORG_HEADER
from conformance._core.dates import CLOSED_PERIOD_OFFSET, month_start
from conformance._run.session import Raw
from conformance.checks import auth, space
from conformance.plugin import share_of_examples, suite_contract

CLOSED = month_start(CLOSED_PERIOD_OFFSET).isoformat()
EARLIER = month_start(CLOSED_PERIOD_OFFSET - 1).isoformat()
SCHEMES = suite_contract().auth_schemes
#: The generated tests here are not shrunk: a failure shows the whole request it rests on
#: (fields, target, transformation), and shrinking one (often one that fails whatever is
#: drawn, such as an answer marked for shared caches) took tens of seconds per test.
UNSHRUNK = (Phase.explicit, Phase.reuse, Phase.generate)
NOW = email.utils.formatdate(usegmt=True)
PAST = "Sun, 06 Nov 1994 08:49:37 GMT"
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"

# --- header fields --------------------------------------------------------------------------

#: Fixed examples, by id: the fields added to the plain request, and whether a value of
#: them is malformed (a 400 is then a documented refusal). `{etag}` stands for the ETag of
#: the plain answer, `*` when it has none: a condition met either way.
FIELDS: dict[str, tuple[dict[str, str], bool]] = {
    # content negotiation (RFC 9110 12)
    "accept_application_any": ({"Accept": "application/*"}, False),
    "accept_json_with_charset": ({"Accept": "application/json; charset=utf-8"}, False),
    "accept_browser": (
        {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
        False,
    ),
    "accept_problem_and_json": ({"Accept": "application/problem+json, application/json"}, False),
    "accept_html_only": ({"Accept": "text/html"}, False),
    "accept_json_refused": ({"Accept": "application/json;q=0, text/plain"}, False),
    "accept_malformed": ({"Accept": "application/json;q=2;;, /"}, True),
    "accept_encoding_br": ({"Accept-Encoding": "br"}, False),
    "accept_encoding_zstd_br": ({"Accept-Encoding": "zstd, br;q=0.5, gzip;q=0.1"}, False),
    "accept_encoding_any": ({"Accept-Encoding": "*"}, False),
    "accept_encoding_identity_refused": ({"Accept-Encoding": "identity;q=0"}, False),
    "accept_encoding_empty": ({"Accept-Encoding": ""}, False),
    "accept_language": ({"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5"}, False),
    "accept_language_malformed": ({"Accept-Language": "en-US;q=7, @@"}, True),
    "accept_charset_utf8": ({"Accept-Charset": "utf-8, iso-8859-1;q=0.5"}, False),
    "accept_charset_latin1_only": ({"Accept-Charset": "iso-8859-1"}, False),
    # list syntax (RFC 9110 5.6.1.2: empty elements skipped, OWS around commas; 5.6.4 quoted-pair)
    "accept_empty_elements": ({"Accept": ", application/json,"}, False),
    "accept_encoding_empty_elements": ({"Accept-Encoding": "gzip ,, identity"}, False),
    "accept_quoted_pair": ({"Accept": 'application/json;profile="a\\"b, c", */*;q=0.1'}, False),
    "if_none_match_empty_elements": (
        {"If-None-Match": ',"dcs-conformance-no-such-tag" , ,W/"b"'},
        False,
    ),
    # conditional requests (RFC 9110 13)
    "if_none_match_any": ({"If-None-Match": "*"}, False),
    "if_none_match_other": ({"If-None-Match": '"dcs-conformance-no-such-tag"'}, False),
    "if_none_match_weak_list": ({"If-None-Match": 'W/"a", W/"b"'}, False),
    "if_none_match_met": ({"If-None-Match": "{etag}"}, False),
    "if_none_match_malformed": ({"If-None-Match": "unquoted-tag"}, True),
    "if_modified_since_past": ({"If-Modified-Since": PAST}, False),
    "if_modified_since_now": ({"If-Modified-Since": NOW}, False),
    "if_modified_since_asctime": ({"If-Modified-Since": "Sun Nov  6 08:49:37 1994"}, False),
    "if_modified_since_malformed": ({"If-Modified-Since": "yesterday"}, True),
    "if_match_any": ({"If-Match": "*"}, False),
    "if_match_other": ({"If-Match": '"dcs-conformance-no-such-tag"'}, False),
    "if_unmodified_since_past": ({"If-Unmodified-Since": PAST}, False),
    "if_unmodified_since_future": ({"If-Unmodified-Since": FUTURE}, False),
    "if_range_with_range": ({"If-Range": '"x"', "Range": "bytes=0-9"}, False),
    # ranges (RFC 9110 14)
    "range_first_bytes": ({"Range": "bytes=0-9"}, False),
    "range_suffix": ({"Range": "bytes=-5"}, False),
    "range_several": ({"Range": "bytes=0-0, 5-9"}, False),
    "range_past_the_end": ({"Range": "bytes=1000000-"}, False),
    "range_huge": ({"Range": "bytes=0-99999999999999999999"}, False),
    "range_malformed": ({"Range": "bytes=9-1"}, True),
    "range_unknown_unit": ({"Range": "items=0-1"}, False),
    # caching directives of a request (RFC 9111 5.2.1)
    "cache_control_no_cache": ({"Cache-Control": "no-cache"}, False),
    "cache_control_max_age_0": ({"Cache-Control": "max-age=0, no-store"}, False),
    "cache_control_malformed": ({"Cache-Control": ",,max-age=-1, =x"}, True),
    "pragma_no_cache": ({"Pragma": "no-cache"}, False),
    # forwarding (RFC 7239, and the X-Forwarded-* family)
    "x_forwarded_for": ({"X-Forwarded-For": "203.0.113.7, 198.51.100.1, 10.0.0.1"}, False),
    "x_forwarded_for_ipv6": ({"X-Forwarded-For": "2001:db8::1"}, False),
    "x_forwarded_for_malformed": ({"X-Forwarded-For": "not-an-ip, , :::"}, True),
    "forwarded": (
        {"Forwarded": 'for="[2001:db8:cafe::17]:4711";proto=https;by=203.0.113.43'},
        False,
    ),
    "forwarded_malformed": ({"Forwarded": "for=;;;proto"}, True),
    "x_forwarded_proto_host_port": (
        {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "api.example.com",
            "X-Forwarded-Port": "443",
        },
        False,
    ),
    "x_real_ip": ({"X-Real-IP": "198.51.100.23"}, False),
    "via": ({"Via": "1.1 proxy.example (Squid/6.1), 1.0 fred"}, False),
    # what browsers, SDKs and tracing add
    "cookie": ({"Cookie": "session=abc123; theme=dark"}, False),
    "cookie_malformed": ({"Cookie": ";;=;a==b; ="}, True),
    "cookie_without_value": ({"Cookie": "flag; session=abc123"}, True),
    "cookie_quoted": ({"Cookie": 'prefs="a=1"; id=7'}, False),
    "cookie_not_ascii": ({"Cookie": "name=caf\u00e9"}, False),
    "user_agent_browser": (
        {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
        False,
    ),
    "user_agent_empty": ({"User-Agent": ""}, False),
    "user_agent_sdk": ({"User-Agent": "dedalus-sdk-python/0.4.0 httpx/0.28.1 python/3.11"}, False),
    "referer": ({"Referer": "https://app.example.com/billing?tab=usage"}, False),
    "origin": ({"Origin": "https://app.example.com"}, False),
    "origin_null": ({"Origin": "null"}, False),
    "dnt": ({"DNT": "1", "Sec-GPC": "1"}, False),
    "traceparent": (
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        False,
    ),
    "traceparent_malformed": ({"traceparent": "ff-garbage"}, True),
    "x_request_id": ({"X-Request-Id": "f3c5a1e0-7c1e-4b7e-9d7a-2f1e6b9c0d11"}, False),
    "x_request_id_odd": ({"X-Request-Id": 'not a uuid; <1> "2"'}, False),
    # connection management and expectations (RFC 9110 7.6, 10.1.1)
    "te_trailers": ({"TE": "trailers"}, False),
    "connection_close": ({"Connection": "close"}, False),
    "connection_keep_alive": ({"Connection": "keep-alive"}, False),
    "upgrade_unknown": ({"Connection": "Upgrade", "Upgrade": "dcs-conformance-unknown/1"}, False),
    "expect_100_continue": ({"Expect": "100-continue"}, False),
    "expect_unknown": ({"Expect": "dcs-conformance"}, False),
    "content_length_zero": ({"Content-Length": "0"}, False),
    "content_type_json": ({"Content-Type": "application/json"}, False),
    # transitory context, never the request's meaning (RFC 9110 8.7)
    "content_location_other_month": (
        {"Content-Location": f"/v1/usage?period_start={EARLIER}"},
        False,
    ),
    "transfer_encoding_chunked": ({"Transfer-Encoding": "chunked"}, False),
    # sizes, bytes and repetitions
    "long_value_under_limits": ({"X-Dcs-Padding": "a" * 900}, False),
    "many_fields_under_limits": ({f"X-Dcs-Pad-{i}": "v" * 80 for i in range(30)}, False),
    "long_user_agent": ({"User-Agent": "x" * 8000}, False),
    "many_fields_over_limits": ({f"X-Dcs-Pad-{i}": "v" * 100 for i in range(100)}, False),
    "utf8_value": ({"X-Dcs-Note": "café ☕ 東京"}, False),
    "obs_text_value": ({"User-Agent": "caf\udce9-\udcff"}, False),
    "repeated_accept": ({"Accept": "application/json", "accept": "*/*"}, False),
    "repeated_forwarded_for": (
        {"X-Forwarded-For": "203.0.113.7", "x-forwarded-for": "10.0.0.1"},
        False,
    ),
    "repeated_user_agent": ({"User-Agent": "one", "user-agent": "two"}, False),
    "repeated_cookie": ({"Cookie": "a=1", "cookie": "b=2"}, False),
}


def with_fields(dcs, headers: dict[str, str]):
    """The plain answer for the closed month, and the answer to the request with `headers`.
    (Each test calls its check itself: the checks a test means to run are read from its own
    code, so that one an earlier failure kept from running shows as masked.)"""
    return dcs.plain(CLOSED), dcs.send_usage(period_start=CLOSED, headers=headers)


@pytest.mark.parametrize("example", list(FIELDS))
def test_standard_headers_harmless(dcs, example):
    headers, malformed = FIELDS[example]
    etag = dcs.plain(CLOSED).headers.get("etag", "*")
    headers = {name: value.replace("{etag}", etag) for name, value in headers.items()}
    reference, exchange = with_fields(dcs, headers)
    dcs.judge(exchange, lambda: space.standard_headers_harmless(malformed, reference, exchange))


def _weight():
    return st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";q=0.001"])


def _listed(items, *, max_size: int = 4):
    return st.lists(st.tuples(items, _weight()), min_size=1, max_size=max_size).map(
        lambda pairs: ", ".join(f"{item}{weight}" for item, weight in pairs)
    )


TOKEN = st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}", fullmatch=True)
MEDIA = st.sampled_from(
    ["application/json", "application/*", "*/*", "text/html", "text/plain", "application/xml",
     "application/problem+json", "application/json; charset=utf-8", "image/webp"]
)  # fmt: skip
CODINGS = st.sampled_from(["gzip", "deflate", "br", "zstd", "identity", "*", "compress"])
LANGUAGES = st.from_regex(r"[a-z]{2,3}(-[A-Z]{2})?|\*", fullmatch=True)
HTTP_DATES = st.datetimes(
    min_value=dt.datetime(1971, 1, 1),
    max_value=dt.datetime(2099, 12, 31),
    timezones=st.just(dt.UTC),
).map(lambda moment: email.utils.format_datetime(moment, usegmt=True))
ETAGS = st.one_of(
    st.just("*"),
    _listed(st.from_regex(r'(W/)?"[A-Za-z0-9._-]{0,20}"', fullmatch=True)).map(
        lambda value: (
            value.replace(";q=0.5", "")
            .replace(";q=0.001", "")
            .replace(";q=0", "")
            .replace(";q=1", "")
        )
    ),
)
RANGES = st.lists(
    st.one_of(
        st.tuples(st.integers(0, 500), st.integers(0, 500)).map(lambda p: f"{min(p)}-{max(p)}"),
        st.integers(0, 1000).map(lambda n: f"{n}-"),
        st.integers(1, 1000).map(lambda n: f"-{n}"),
    ),
    min_size=1,
    max_size=3,
).map(lambda specs: "bytes=" + ", ".join(specs))
ADDRESSES = st.ip_addresses().map(str)
PRINTABLE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60)
HOSTILE = st.text(
    # every character but controls, surrogates and separators (all of them UTF-8: no codec=,
    # whose table hypothesis builds from all of Unicode, seconds, in a fresh directory)
    st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters=" \t"),
    min_size=1,
    max_size=200,
)

#: Each: a strategy of (fields added, malformed).
GENERATED_FIELDS = {
    "accept": _listed(MEDIA).map(lambda v: ({"Accept": v}, False)),
    "accept_encoding": _listed(CODINGS).map(lambda v: ({"Accept-Encoding": v}, False)),
    "accept_language": _listed(LANGUAGES).map(lambda v: ({"Accept-Language": v}, False)),
    "if_none_match": ETAGS.map(lambda v: ({"If-None-Match": v}, False)),
    "if_match": ETAGS.map(lambda v: ({"If-Match": v}, False)),
    "if_modified_since": HTTP_DATES.map(lambda v: ({"If-Modified-Since": v}, False)),
    "if_unmodified_since": HTTP_DATES.map(lambda v: ({"If-Unmodified-Since": v}, False)),
    "range": RANGES.map(lambda v: ({"Range": v}, False)),
    "cache_control": _listed(
        st.sampled_from(
            [
                "no-cache",
                "no-store",
                "max-age=0",
                "max-stale",
                "min-fresh=5",
                "no-transform",
                "only-if-cached",
            ]
        )
    ).map(lambda v: ({"Cache-Control": v.replace(";q=", ";x=")}, True)),
    "forwarded_for": st.lists(ADDRESSES, min_size=1, max_size=5).map(
        lambda v: ({"X-Forwarded-For": ", ".join(v)}, False)
    ),
    "forwarded": ADDRESSES.map(lambda v: ({"Forwarded": f'for="{v}";proto=https'}, False)),
    "cookie": st.lists(
        st.one_of(
            st.tuples(
                TOKEN,
                st.from_regex(r'[A-Za-z0-9_.-]{0,20}|"[A-Za-z0-9=_.-]{0,10}"', fullmatch=True),
            ).map(lambda p: f"{p[0]}={p[1]}"),
            TOKEN,
        ),
        min_size=1,
        max_size=8,
    ).map(lambda pairs: ({"Cookie": "; ".join(pairs)}, not all("=" in p for p in pairs))),
    "user_agent": PRINTABLE.map(lambda v: ({"User-Agent": v}, False)),
    "referer": PRINTABLE.map(lambda v: ({"Referer": f"https://example.com/{v}"}, False)),
    "unknown_field": st.tuples(TOKEN, PRINTABLE).map(lambda p: ({f"X-Dcs-{p[0]}": p[1]}, False)),
    "hostile_value": st.tuples(
        st.sampled_from(
            [
                "Accept",
                "Accept-Language",
                "If-None-Match",
                "If-Modified-Since",
                "Range",
                "Cookie",
                "User-Agent",
                "X-Forwarded-For",
                "Forwarded",
                "Origin",
                "Cache-Control",
                "X-Dcs-Probe",
            ]
        ),
        HOSTILE,
    ).map(lambda p: ({p[0]: p[1]}, True)),
    "long_value": st.tuples(
        st.sampled_from(["User-Agent", "Cookie", "Referer", "X-Dcs-Padding"]),
        st.integers(100, 8 * 1024),
    ).map(lambda p: ({p[0]: "z" * p[1]}, False)),
}


@st.composite
def field_sets(draw: st.DrawFn) -> tuple[dict[str, str], bool]:
    """One to four kinds of fields, each a value from its strategy; a name drawn twice is
    sent on two lines (its second in lower case)."""
    kinds = draw(st.lists(st.sampled_from(sorted(GENERATED_FIELDS)), min_size=1, max_size=4))
    headers: dict[str, str] = {}
    malformed = False
    for kind in kinds:
        fields, bad = draw(GENERATED_FIELDS[kind], label=kind)
        malformed |= bad
        for name, value in fields.items():
            if any(existing.lower() == name.lower() for existing in headers):
                name = name.lower() if name.lower() not in headers else name.upper()
            headers[name] = value
    return headers, malformed


@settings(max_examples=share_of_examples(0.3), phases=UNSHRUNK)
@given(fields=field_sets())
def test_generated_standard_headers_harmless(dcs, fields):
    headers, malformed = fields
    reference, exchange = with_fields(dcs, headers)
    dcs.judge(exchange, lambda: space.standard_headers_harmless(malformed, reference, exchange))


# --- request-targets ------------------------------------------------------------------------

PERIOD = f"period_start={CLOSED}"
#: Query strings (sent exactly as spelled) that carry the plain request's period and
#: something odd besides; none may change its answer other than by a refusal.
TARGETS: dict[str, str | tuple[str, Raw]] = {
    "absolute_form": (PERIOD, Raw(absolute_form=True)),
    "absolute_form_empty_pairs": (f"&{PERIOD}&", Raw(absolute_form=True)),
    "http_1_0_repeated_period": (f"{PERIOD}&{PERIOD}", Raw("1.0")),
    "repeated_same_period": f"{PERIOD}&{PERIOD}",
    "empty_pairs": f"&{PERIOD}&&",
    "trailing_ampersand": f"{PERIOD}&",
    "pair_without_value": f"flag&{PERIOD}",
    "empty_name": f"{PERIOD}&=x",
    "empty_value": f"{PERIOD}&x=",
    "encoded_fragment": f"{PERIOD}&x=%23frag",
    "bad_percent": f"{PERIOD}&x=%zz&y=%",
    "not_utf8": f"{PERIOD}&x=%C3%28%FF",
    "nul_byte": f"{PERIOD}&x=%00",
    "crlf": f"{PERIOD}&x=%0D%0AX-Dcs-Injected:%201",
    "plus_and_space": f"{PERIOD}&x=a+b%20c",
    "semicolon": f"{PERIOD};x=1",
    "encoded_ampersand": f"{PERIOD}&x=1%26period_start%3D1999-01-01",
    "php_array": f"{PERIOD}&x[]=1&x[]=2",
    "many_parameters": "&".join([PERIOD, *(f"p{i}={i}" for i in range(200))]),
    "long_value": f"{PERIOD}&x={'y' * 3000}",
    "non_ascii": f"{PERIOD}&x=caf\u00e9",
}


@pytest.mark.parametrize("shape", list(TARGETS))
def test_request_target_harmless(dcs, shape):
    target = TARGETS[shape]
    query, raw = target if isinstance(target, tuple) else (target, None)
    reference, exchange = dcs.plain(CLOSED), dcs.send_usage(query=query, raw=raw)
    dcs.judge(exchange, lambda: space.request_target_harmless(reference, exchange))


NOISE_NAME = st.from_regex(r"([A-Za-z0-9_.~!$'()*,;:@/?-]|%[0-9A-Fa-f]{2}){1,12}", fullmatch=True)
NOISE_VALUE = st.from_regex(
    r"([A-Za-z0-9_.~!$'()*,;:@/?=+-]|%[0-9A-Fa-f]{2}|%){0,20}", fullmatch=True
)


def _not_the_period(name: str) -> bool:
    return unquote_plus(name).strip().lower() not in ("period_start", "")


@st.composite
def queries(draw: st.DrawFn) -> str:
    """The period among up to six pairs of noise, anywhere, joined by one or two `&`."""
    noise = draw(
        st.lists(
            st.tuples(NOISE_NAME.filter(_not_the_period), st.one_of(st.none(), NOISE_VALUE)),
            max_size=6,
        )
    )
    pairs = [name if value is None else f"{name}={value}" for name, value in noise]
    pairs.insert(draw(st.integers(0, len(pairs))), PERIOD)
    joiner = draw(st.sampled_from(["&", "&&"]))
    return joiner.join(pairs)


@settings(max_examples=share_of_examples(0.15), phases=UNSHRUNK)
@given(query=queries())
def test_generated_request_target_harmless(dcs, query):
    reference, exchange = dcs.plain(CLOSED), dcs.send_usage(query=query)
    dcs.judge(exchange, lambda: space.request_target_harmless(reference, exchange))


# --- transformations that must not change an answer ------------------------------------------


def random_case(name: str):
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda upper: "".join(
            c.upper() if u else c.lower() for c, u in zip(name, upper, strict=True)
        )
    )


UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")


def encode_some(text: str, chosen: list[bool], upper: list[bool]) -> str:
    """`text` with the unreserved characters `chosen` percent-encoded (hex digits in upper
    case where `upper` says, else lower)."""
    out = []
    for index, char in enumerate(text):
        if index < len(chosen) and chosen[index] and char in UNRESERVED:
            hexed = f"{ord(char):02X}"
            out.append("%" + (hexed if index < len(upper) and upper[index] else hexed.lower()))
        else:
            out.append(char)
    return "".join(out)


#: A request's deviation from the plain one: keyword arguments of `Dcs.send_usage`.
Request = dict[str, Any]
#: A form of a transformation: the request it makes of a run's target for a period.
Form = Callable[[Any, str], Request]


@dataclass(frozen=True)
class Transformation:
    """A change to a valid request for a closed period that must not change its answer, the
    sentence that says so, its fixed forms (always sent) and the strategy of its generated
    ones (a strategy of forms)."""

    name: str
    rule: str
    fixed: dict[str, Form]
    generated: Callable[[Any, str], st.SearchStrategy[Request]] | None = None
    #: whether it also feeds `same_answer`, the older check its faults name
    same_answer: bool = False
    #: the request it is compared with, when not the plain request
    reference: Form | None = None
    #: why it cannot run against this target, or None
    needs: Callable[[Any], str | None] = field(default=lambda dcs: None)

    def strategy(self, dcs: Any, period: str) -> st.SearchStrategy[Request]:
        if self.generated is not None:
            return self.generated(dcs, period)
        return st.sampled_from(sorted(self.fixed)).map(lambda form: self.fixed[form](dcs, period))


def _key(dcs: Any) -> str:
    return dcs.credentials.api_key


def _cased(header: str, prefix: str) -> Form:
    return lambda dcs, period: {"scheme": None, "headers": {header: prefix + _key(dcs)}}


def _generated_case(dcs: Any, period: str) -> st.SearchStrategy[Request]:
    return st.one_of(
        *(
            st.tuples(random_case(s.header), random_case(s.prefix)).map(
                lambda pair: {"scheme": None, "headers": {pair[0]: pair[1] + _key(dcs)}}
            )
            for s in SCHEMES
        )
    )


def _query(query: Callable[[str], str]) -> Form:
    return lambda dcs, period: {"period_start": None, "query": query(period)}


def _generated_encoding(dcs: Any, period: str) -> st.SearchStrategy[Request]:
    text = f"period_start={period}"
    flags = st.lists(st.booleans(), min_size=len(text), max_size=len(text))
    return st.tuples(flags, flags).map(
        lambda p: {"period_start": None, "query": encode_some(text, p[0], p[1])}
    )


def _padded(before: str, after: str) -> Form:
    scheme = SCHEMES[0]
    return lambda dcs, period: {
        "scheme": None,
        "raw": Raw(),
        "headers": {scheme.header: f"{before}{scheme.prefix}{_key(dcs)}{after}"},
    }


def _generated_padding(dcs: Any, period: str) -> st.SearchStrategy[Request]:
    spaces = st.sampled_from([" ", "\t", "  ", " \t "])
    return st.tuples(spaces, st.sampled_from(["", " ", "\t"])).map(
        lambda p: _padded(*p)(dcs, period)
    )


def _fields(headers: dict[str, str]) -> Form:
    return lambda dcs, period: {"headers": headers}


def _wire(**how: Any) -> Form:
    return lambda dcs, period: dict(how)


TRANSFORMATIONS = [
    Transformation(
        "other_scheme",
        "the spec's security requirements are alternatives: either scheme carries the key "
        "(OpenAPI 3.1 4.8.10: one of the listed requirement objects must be satisfied)",
        {s.label: (lambda label: _wire(scheme=label))(s.label) for s in SCHEMES[1:]},
        same_answer=True,
        needs=lambda dcs: None if len(SCHEMES) > 1 else "the spec has one security scheme",
    ),
    Transformation(
        "header_name_case",
        "field names are case-insensitive (RFC 9110 5.1), and so is the auth-scheme "
        "(RFC 9110 11.1)",
        {f"{s.label}_upper": _cased(s.header.upper(), s.prefix.upper()) for s in SCHEMES}
        | {f"{s.label}_title": _cased(s.header.title(), s.prefix.lower()) for s in SCHEMES},
        _generated_case,
        same_answer=True,
    ),
    Transformation(
        "own_org_header",
        "X-Dedalus-Org-Id naming the key's own org is the scope the key has: only another "
        "org's is refused (the spec's 403 AUTH_ORG_MISMATCH, 'org scope does not match API "
        "key ownership')",
        {
            "own_org": lambda dcs, period: {"org": dcs.credentials.org_id},
            "own_org_padded": lambda dcs, period: {
                "raw": Raw(),
                "headers": {ORG_HEADER: f" {dcs.credentials.org_id}\t"},
            },
        },
        needs=lambda dcs: None if dcs.credentials.org_id else "needs --org-id (or DCS_ORG_ID)",
    ),
    Transformation(
        "unknown_field",
        "recipients ignore header fields they do not recognize (RFC 9110 5.1: 'Other "
        "recipients SHOULD ignore unrecognized header and trailer fields')",
        {"probe": _fields({"X-Conformance-Probe": "1"})},
        lambda dcs, period: st.tuples(TOKEN, PRINTABLE).map(
            lambda p: {"headers": {f"X-Conformance-{p[0]}": p[1]}}
        ),
    ),
    Transformation(
        "accept_json",
        "application/json is as acceptable to `Accept: application/json` as to `*/*` "
        "(RFC 9110 12.5.1): the same representation",
        {
            "json": _fields({"Accept": "application/json"}),
            "json_first": _fields({"Accept": "application/json, */*;q=0.1"}),
        },
    ),
    Transformation(
        "identity_coding",
        "a content coding changes how the representation is sent, not its data (RFC 9110 "
        "8.4): the same JSON with Accept-Encoding identity as with gzip",
        {
            "identity": _fields({"Accept-Encoding": "identity"}),
            "gzip_only": _fields({"Accept-Encoding": "gzip"}),
        },
    ),
    Transformation(
        "value_whitespace",
        "whitespace around a field value is not part of it (RFC 9110 5.5: 'a field value "
        "does not include leading or trailing whitespace'; RFC 9112 5.1: parsers exclude it)",
        {"padded_key": _padded("  ", " \t")},
        _generated_padding,
    ),
    Transformation(
        "parameter_order",
        "a parameter is identified by its name and location, not its position (OpenAPI 3.1 "
        "4.8.12): the same parameters in another order get the same answer",
        {"swapped": _query(lambda period: f"dcs_probe=1&period_start={period}")},
        reference=_query(lambda period: f"period_start={period}&dcs_probe=1"),
    ),
    Transformation(
        "percent_encoded_unreserved",
        "percent-encoded unreserved characters are equivalent to the characters, and hex "
        "digits to their other case (RFC 3986 6.2.2.2, 6.2.2.1)",
        {
            "value_upper_hex": _query(
                lambda period: f"period_start={encode_some(period, [True] * 10, [True] * 10)}"
            ),
            "name_lower_hex": _query(
                lambda period: f"{encode_some('period_start', [True, False] * 6, [])}={period}"
            ),
        },
        _generated_encoding,
    ),
    Transformation(
        "absolute_form",
        "'a server MUST accept the absolute-form in requests' (RFC 9112 3.2.2): the same "
        "resource named by its whole URL",
        {"absolute": _wire(raw=Raw(absolute_form=True))},
    ),
    Transformation(
        "http_1_0",
        "a request means the same whatever version of HTTP carries it (RFC 9110 2.5, 3.2): "
        "an HTTP/1.1 server answers an HTTP/1.0 request alike",
        {
            "http_1_0": _wire(raw=Raw("1.0")),
            "http_1_0_absolute": _wire(raw=Raw("1.0", absolute_form=True)),
        },
    ),
    Transformation(
        "new_connection",
        "'a server MUST NOT assume that two requests on the same connection are from the "
        "same user agent' (RFC 9110 3.3): a request on a new connection gets what it gets "
        "on a kept-alive one",
        {"fresh": _wire(fresh=True)},
    ),
]
BY_NAME = {t.name: t for t in TRANSFORMATIONS}
FIXED = [(t.name, form) for t in TRANSFORMATIONS for form in t.fixed]


def transformed(dcs, transformation: Transformation, period: str, request: Request):
    """The reference and the transformed request's answer, sent together, and why they must
    be the same."""
    reason = transformation.needs(dcs)
    if reason:
        pytest.skip(reason)
    sent = {"period_start": period, **request}
    if transformation.reference is not None:
        plain = transformation.reference(dcs, period)
        reference, variant = dcs.together(
            lambda: dcs.send_usage(**plain), lambda: dcs.send_usage(**sent)
        )
        dcs.judge(reference)
    else:
        reference, variant = dcs.together(lambda: dcs.plain(period), lambda: dcs.send_usage(**sent))
    return f"{transformation.name}: {transformation.rule}", reference, variant


@pytest.mark.parametrize("name, form", FIXED, ids=[f"{n}-{f}" for n, f in FIXED])
def test_equivalent_requests_same_answer(dcs, name, form):
    transformation = BY_NAME[name]
    request = transformation.fixed[form](dcs, CLOSED)
    why, reference, variant = transformed(dcs, transformation, CLOSED, request)
    checks = [lambda: space.equivalent_requests_same_answer(why, reference, variant)]
    if transformation.same_answer:
        checks.insert(0, lambda: auth.same_answer(dcs.billed_fields, reference, variant))
    dcs.judge(variant, *checks)


def closed_periods() -> st.SearchStrategy[str]:
    """The first of a month, 3 to 120 months back."""
    return st.integers(-120, CLOSED_PERIOD_OFFSET).map(
        lambda offset: month_start(offset).isoformat()
    )


@settings(max_examples=share_of_examples(0.2), phases=UNSHRUNK)
@given(data=st.data())
def test_generated_equivalent_requests(dcs, data):
    usable = [t for t in TRANSFORMATIONS if t.needs(dcs) is None]
    transformation = data.draw(st.sampled_from(usable), label="transformation")
    period = data.draw(closed_periods(), label="period")
    request = data.draw(transformation.strategy(dcs, period), label="request")
    why, reference, variant = transformed(dcs, transformation, period, request)
    checks = [lambda: space.equivalent_requests_same_answer(why, reference, variant)]
    if transformation.same_answer:
        checks.insert(0, lambda: auth.same_answer(dcs.billed_fields, reference, variant))
    dcs.judge(variant, *checks)
