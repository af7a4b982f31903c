"""The record of one exchange (request, response or transport error) and the masking of secrets.

Plain data: no HTTP client, no event loop. Checks and reports read exchanges; the transport
(`_http`) makes them.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

MASK = "***"
#: Where a named secret was, in a template: `${DCS_API_KEY}`.
PLACEHOLDER = "${{{}}}"
PLACEHOLDER_PATTERN = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
#: Headers whose whole value is a credential, masked whatever it is.
SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})
#: Statuses with which a gateway or a rate limiter says "not now", whatever the body says.
GATEWAY_STATUSES = frozenset({429, 502, 503, 504})


class Masker:
    """Hides secrets: whole values of credential headers, and known secrets anywhere in text.

    A secret may have a name (`DCS_API_KEY`): a template (`template`, `header_template`) then
    shows where it was as `${DCS_API_KEY}`, so that a request can be sent again with the real
    key (`python -m conformance.replay`) without the key ever being written."""

    def __init__(
        self,
        secrets: Iterable[str] = (),
        *,
        secret_headers: Iterable[str] = (),
        names: Mapping[str, str] | None = None,
    ) -> None:
        self._secrets: list[str] = []
        self._raw: set[str] = set()  # the secrets as given
        #: any of them escaped any way, and what is left of one cut short
        self._escaped: re.Pattern[str] | None = None
        self._names: dict[str, str] = {}  # a named secret's raw and URL-encoded forms -> name
        self._secret_headers = SECRET_HEADERS | {name.lower() for name in secret_headers}
        for secret in secrets:
            self.add(secret)
        for name, secret in (names or {}).items():
            self.add(secret, name=name)

    def add(self, secret: str, *, name: str | None = None) -> None:
        if secret:
            self._secrets = sorted({*self._secrets, *secret_forms(secret)}, key=len, reverse=True)
            self._raw.add(secret)
            cores = {raw.strip() for raw in self._raw}
            patterns = [_escaped(core) for core in cores if len(core) >= 8]
            patterns += [_cut(core) for core in cores if len(core) >= CUT_FROM]
            patterns = sorted(pattern for pattern in patterns if pattern)
            self._escaped = re.compile("|".join(patterns)) if patterns else None
            if name:
                for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                    self._names.setdefault(form, name)

    def text(self, value: str) -> str:
        """`value` with every secret, in every form it may take (`secret_forms`), as `***`:
        the one masking of any text the suite writes."""
        for secret in self._secrets:
            value = value.replace(secret, MASK)
        return self._escaped.sub(MASK, value) if self._escaped is not None else value

    def error(self, exc: BaseException) -> str:
        """An exception as one line of text, masked (its message, else its type's name)."""
        text = str(exc).strip()
        return self.text(text.splitlines()[0] if text else type(exc).__name__)

    def name_of(self, value: str) -> str | None:
        """The name of the named secret that `value` is exactly (None: no such secret)."""
        return self._names.get(value) if value in self._secrets else None

    def template(self, value: str) -> str:
        """`value` with each named secret as `${NAME}` and every other secret as `***`."""
        for secret in self._secrets:
            name = self._names.get(secret)
            value = value.replace(secret, PLACEHOLDER.format(name) if name else MASK)
        return value

    def header_template(self, name: str, value: str) -> str:
        """A header's template. A credential header keeps its value around the named secrets
        (`Bearer ${DCS_API_KEY} extra`, a wrong key the suite made up) only when the rest can
        hold no part of a secret, in any encoding it could check; else it is masked whole, as
        `header` does (a key cut in two, a key inside base64: never restored, never shown)."""
        templated = self.template(value)
        if name.lower() in self._secret_headers and not self._shows_nothing(templated):
            return self.header(name, value)
        return templated

    def _shows_nothing(self, templated: str) -> bool:
        """Whether a template's text (placeholders and masks aside) holds no piece of a secret
        of 4 characters or more, plain or inside base64."""
        rest = PLACEHOLDER_PATTERN.sub(" ", templated).replace(MASK, " ")
        for token in _tokens(rest):
            for text in (token, *_base64_decoded(token)):
                if self.text(text) != text:
                    return False
                pieces = [piece for piece in _tokens(text) if len(piece) >= 4]
                if any(piece in secret for piece in pieces for secret in self._raw):
                    return False
        return True

    def header(self, name: str, value: str) -> str:
        if name.lower() not in self._secret_headers:
            return self.text(printable(value))
        scheme, _, rest = value.partition(" ")
        return f"{scheme} {MASK}" if rest and scheme.isalpha() and len(scheme) < 16 else MASK

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {name: self.header(name, value) for name, value in headers.items()}


#: A secret this long is masked even when a text shows only its first half, 12 characters at
#: least (a value cut short to fit a line: `repr(body[:40])`), with what follows that half.
CUT_FROM = 20


def _cut(secret: str) -> str:
    """A pattern of the first half of `secret` and whatever may follow it of the rest, in any
    escaping (letters, digits, the rest's own characters, `\\%&#;`)."""
    half = max(len(secret) // 2, 12)
    rest = "".join(sorted({re.escape(char) for char in secret[half:] if not char.isspace()}))
    return re.escape(secret[:half]) + rf"[\w.~\-\\%&#;{rest}]*"


def _escaped(secret: str) -> str:
    """A pattern of `secret` however its characters other than letters, digits and `_-.~`
    are escaped, and however often (a repr of JSON of a repr): behind backslashes, as
    `%XX`, `\\xXX`, `\\uXXXX` or an HTML character reference ("" for a secret that has
    none of them: its plain forms are enough)."""
    parts, special = [], False
    for char in secret:
        if char.isascii() and (char.isalnum() or char in "_-.~"):
            parts.append(re.escape(char))
            continue
        special, code = True, ord(char)
        forms = {re.escape(char), re.escape(html.escape(char)), f"&#{code};", f"&#x{code:x};"}
        forms |= {f"%{code:02X}", f"%{code:02x}", rf"\\x{code:02x}", rf"\\u{code:04x}"}
        forms |= {r"\+"} if char == " " else {"&apos;"} if char == "'" else set()
        parts.append(r"\\*(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")")
    return "".join(parts) if special else ""


def _tokens(text: str) -> list[str]:
    return [token for token in re.split(r"[\s:;,=&]+", text) if token]


def _base64_decoded(token: str) -> list[str]:
    """`token` read as base64 (standard, URL-safe), where it decodes."""
    padded = token + "=" * (-len(token) % 4)
    found = []
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            found.append(decode(padded).decode("latin-1"))
        except (ValueError, TypeError):
            continue
    return found


def printable(value: str) -> str:
    """A value as it can be written anywhere: a byte that is not UTF-8, carried as a lone
    surrogate escape (`"\udcff"`, how the suite spells obs-text), shown as `\xff`."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def secret_forms(secret: str) -> set[str]:
    """A secret as it may be echoed or quoted: raw and stripped of the whitespace around it
    (padding around it then shows, never the secret), URL-encoded, base64 (standard and
    URL-safe), and escaped as a `repr` of it or of its bytes (`b'...'`, an exception's
    text), as JSON and as HTML spell it."""
    forms = {secret}
    core = secret.strip()
    if len(core) >= 8:  # encodings of a very short value would mask unrelated text
        for value in {secret, core}:
            data = value.encode("utf-8", "surrogateescape")
            forms |= {value, quote(data, safe=""), quote_plus(data)}
            for encoded in (base64.b64encode(data), base64.urlsafe_b64encode(data)):
                forms |= {encoded.decode(), encoded.decode().rstrip("=")}
            for quoted in (repr(value), repr(data)[1:], ascii(value)):
                forms.add(quoted[1:-1])
            forms |= {json.dumps(value)[1:-1], html.escape(value), html.escape(value, False)}
    return {form for form in forms if form}


@dataclass(eq=False)
class Exchange:
    """One request and what came back (or the transport error). Secrets are masked on output."""

    method: str
    url: str
    request_headers: dict[str, str]
    status: int | None
    headers: dict[str, str]
    body: bytes
    elapsed: float
    error: str = ""
    retries: int = 0
    stalled: bool = False  # the deadline or the read timeout ran out
    streamed: bool = False  # a stream (event stream, protocol switch): its body was not read
    #: a content coding the request asked for that the suite cannot decode (`br`, `zstd`):
    #: the body is kept as it came, and not judged as JSON
    coded: str = ""
    http_version: str = "1.1"  # of the request as sent
    absolute_form: bool = False  # the request-target was the whole URL (RFC 9112 3.2.2)
    #: how it went on the wire, to send it again alike: written byte for byte on a
    #: connection of its own (`raw`), followed there by a pipelined GET (`then_get`), or on
    #: a new connection of the pooled client (`fresh`)
    raw: bool = False
    then_get: bool = False
    fresh: bool = False
    #: what made the request malformed at HTTP/1.1's level on purpose ("" for none)
    flaw: str = ""
    #: whether the server closed the connection after its answer, or without one (None: not
    #: watched; only requests written byte for byte are)
    closed: bool | None = None
    #: an answer to a request pipelined after it came on the same connection (raw wire)
    answered_after: bool = False
    #: the request asked for the connection's close (`Connection: close`, as sent)
    asked_close: bool = False
    masker: Masker = field(default_factory=Masker, repr=False)
    started: float = 0.0  # when it was sent: seconds since the epoch (0: not known)
    #: the request asked for the close (written byte for byte), and the server left the
    #: connection open past a grace period after its answer
    left_open: bool = False
    #: the 1xx interim answers that came before the final one (written byte for byte only)
    interim: tuple[int, ...] = ()
    #: the answers that were retried before this one (429, 502, 503, 504, a retryable 5xx)
    retried: tuple[Exchange, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:
        return f"<Exchange {self.request_line()} -> {self.status or self.error}>"

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @cached_property
    def parsed(self) -> tuple[bool, Any]:
        """(True, value) when the body is strict JSON in UTF-8, else (False, reason)."""
        try:
            return True, json.loads(self.body.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            return False, str(exc).splitlines()[0]

    def json(self) -> Any:
        ok, value = self.parsed
        if not ok:
            raise ValueError(value)
        return value

    @property
    def answered(self) -> bool:
        """Whether an HTTP response head came back (complete or not)."""
        return self.status is not None

    @property
    def unavailable(self) -> bool:
        """The target cannot serve right now: a gateway or rate-limit status (429, 502, 503,
        504, whatever the body), or a 5xx that the API itself marks `retryable: true`."""
        if self.status in GATEWAY_STATUSES:
            return True
        if self.status is None or self.status < 500:
            return False
        ok, body = self.parsed
        return ok and isinstance(body, dict) and body.get("retryable") is True

    def server_line(self) -> str:
        """The status, and the `Server` header where there is one (for one-line outcomes)."""
        server = self.headers.get("server")
        return f"{self.status}" + (f" (Server: {self.masker.text(server)})" if server else "")

    def foreign_note(self, connection: bool = False) -> str:
        """Who answered, by its `Server` field, when the answer is not JSON and so may be a
        reverse proxy's or the HTTP server's own rather than the API's, or when the finding is
        about the connection, which the front server holds ("" otherwise)."""
        server = self.headers.get("server")
        media = self.media_type
        if not server:
            return ""
        named = f" [answered by Server: {self.masker.text(server)}"
        if connection:
            return named + ", which held the connection: a reverse proxy's, if it is one? See "
            "the README, Behind a reverse proxy]"
        if media == "application/json" or media.endswith("+json"):
            return ""
        return (
            named
            + ", not in JSON: the HTTP layer's own answer? See the README, Behind a reverse proxy]"
        )

    def excerpt(self, limit: int = 400) -> str:
        """The body's first `limit` bytes as text, masked before it is cut (a key across the
        cut is masked whole)."""
        text = self.masker.text(self.body[: limit + 1024].decode("utf-8", errors="replace"))
        more = f"... ({len(self.body)} bytes)" if len(self.body) > limit else ""
        return text[:limit] + more

    @property
    def body_judged(self) -> bool:
        """Whether the body was read and decoded, so that it can be judged as JSON."""
        return not self.streamed and not self.coded

    def request_line(self) -> str:
        form = [f"HTTP/{self.http_version}"] if self.http_version != "1.1" else []
        form += ["absolute-form"] if self.absolute_form else []
        form += [self.flaw] if self.flaw else []
        shown = f" ({', '.join(form)})" if form else ""
        return f"{self.method} {self.masker.text(self.url)}{shown}"

    def curl(self) -> str:
        parts = ["curl", "-sS", "-X", self.method]
        parts += ["--http1.0"] if self.http_version == "1.0" else []
        if self.absolute_form:
            parts += ["--request-target", self.masker.text(self.url)]
        for name, value in self.request_headers.items():
            parts += ["-H", f"{name}: {self.masker.header(name, value)}"]
        parts.append(self.masker.text(self.url))
        return shlex.join(parts)

    def summary(self, *, credential: str, org_header: bool) -> dict[str, Any]:
        """What a coverage report needs of this exchange (no header values, no body): the
        caller names the credentials it carried and whether it named an org."""
        parts = urlsplit(self.url)
        code = None
        ok, body = self.parsed
        if ok and isinstance(body, dict) and isinstance(body.get("error_code"), str):
            code = body["error_code"]
        return {
            "method": self.method,
            "path": parts.path,
            "query": self.masker.text(parts.query),
            "auth": credential,
            "org_header": org_header,
            "status": self.status,
            "error_code": None if code is None else self.masker.text(code),
            "error": self.masker.text(self.error),
            "retries": self.retries,
            "elapsed_s": round(self.elapsed, 4),
        }

    def template(self) -> dict[str, Any] | None:
        """The request with each named secret as `${NAME}` (None: it carried none and went
        through the pooled client), for a replay with the real keys: no secret in it. A
        request written byte for byte always has one: its values as they were written."""
        url = self.masker.template(self.url)
        headers = {k: self.masker.header_template(k, v) for k, v in self.request_headers.items()}
        named = [url, *headers.values()]
        if not self.raw and not any(PLACEHOLDER_PATTERN.search(text) for text in named):
            return None
        return {"url": url, "headers": headers}

    def wire(self) -> dict[str, Any] | None:
        """How the request went on the wire when not as the pooled client's usual request
        (None): what a replay needs to send it again alike."""
        if self.raw:
            return {
                "raw": True,
                "version": self.http_version,
                "absolute_form": self.absolute_form,
                "then_get": self.then_get,
            }
        return {"fresh": True} if self.fresh else None

    def as_dict(self) -> dict[str, Any]:
        request: dict[str, Any] = {
            "method": self.method,
            "url": self.masker.text(self.url),
            "headers": self.masker.headers(self.request_headers),
        }
        template = self.template()
        if template is not None:
            request["template"] = template
        wire = self.wire()
        if wire is not None:
            request["wire"] = wire
        if self.flaw:
            request["flaw"] = self.flaw
        return {
            "request": request,
            "response": {
                "status": self.status,
                "headers": self.masker.headers(self.headers),
                "body_excerpt": self.excerpt(),
                "error": self.masker.text(self.error),
            },
            "elapsed_s": round(self.elapsed, 4),
            "retries": self.retries,
            "started": _stamp(self.started),
            "curl": self.curl(),
        }


def _stamp(seconds: float) -> str | None:
    if not seconds:
        return None
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
