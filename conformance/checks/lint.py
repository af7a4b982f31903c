"""`http_message_lint`: every answer linted by httplint, its notes judged by `readings`' table."""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections.abc import Iterator

import httplint
from httplint import HttpRequestLinter, HttpResponseLinter, Note

from conformance._contract import readings
from conformance._contract.spec import Contract, Operation
from conformance._core import trace
from conformance._core.errors import ContractWarning
from conformance._core.exchange import Exchange
from conformance.checks._invariant import Broken, invariant

#: (note class name, subject, summary) of one finding.
Found = tuple[str, str, str]
#: Not a note of httplint: it raised on an answer (a warning, as any note the table lacks).
LINTER_FAILED = "LINTER_FAILED"
#: The request fields httplint reads to judge an answer (negotiation, conditionals, ranges,
#: expectations, upgrades, CORS): only these are fed, and make the cache's key.
_ASKED = re.compile(r"accept.*|if-.*|access-control-request-.*|origin|te|expect|upgrade|range")
#: Answers linted at most, by identical message, before the oldest is linted again.
CACHED = 512


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1", "replace"), _bytes(v)) for k, v in headers.items()]


def _bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _walk(notes: list[Note]) -> Iterator[Note]:
    for note in notes:
        yield note
        yield from _walk(note.subnotes)


@functools.lru_cache(maxsize=CACHED)
def _lint(
    method: str,
    target: str,
    request: tuple[tuple[str, str], ...],
    status: int,
    headers: tuple[tuple[str, str], ...],
    body: bytes,
    content: bool,
    started: int,
) -> tuple[Found, ...]:
    asked = HttpRequestLinter()
    asked.process_request_topline(method.encode(), _bytes(target), b"HTTP/1.1")
    asked.process_headers(_raw(dict(request)))
    answer = HttpResponseLinter(start_time=started or None, _related=asked, no_content=not content)
    answer.is_head_response = method == "HEAD"
    answer.process_response_topline(b"HTTP/1.1", str(status).encode(), None)
    answer.process_headers(_raw(dict(headers)))
    if content:
        answer.feed_content(body)
    answer.finish_content(True)
    return tuple((type(n).__name__, n.subject, str(n.summary)) for n in _walk(list(answer.notes)))


def lint(exchange: Exchange) -> tuple[Found, ...]:
    """httplint's notes on one answer (none without one). The body is judged only as it came:
    not when the suite undid a content coding, nor when it kept one it cannot read."""
    if exchange.status is None or exchange.error:
        return ()
    coded = exchange.headers.get("content-encoding", "identity").strip().lower()
    content = exchange.body_judged and coded in ("", "identity")
    path = exchange.url.split("://", 1)[-1]
    target = "/" + path.split("/", 1)[1] if "/" in path else "/"
    try:
        return _lint(
            exchange.method,
            target,
            tuple(
                (k, v) for k, v in exchange.request_headers.items() if _ASKED.fullmatch(k.lower())
            ),
            exchange.status,
            tuple(exchange.headers.items()),
            exchange.body if content else b"",
            content,
            int(exchange.started),
        )
    except Exception as exc:  # httplint's own bug: said, never the answer's fault
        return ((LINTER_FAILED, "message", f"httplint could not lint this answer: {exc!r}"),)


def note_classes() -> dict[str, type[Note]]:
    """Every note class of the installed httplint, by name (its modules all imported)."""
    for module in pkgutil.walk_packages(httplint.__path__, "httplint."):
        if ".cli" not in module.name:
            importlib.import_module(module.name)
    found: dict[str, type[Note]] = {}
    todo = [Note]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.setdefault(sub.__name__, sub)
            todo.append(sub)
    return found


@invariant
def http_message_lint(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """Every answer is a well-formed HTTP message, as httplint lints it (field syntax, dates
    and their relations, caching, validators, content codings; RFC 9110, 9111, 9112): a note
    that `readings.LINT_NOTES` makes a violation breaks a MUST that the origin server itself
    breaks, such as a `Date` that is not IMF-fixdate (RFC 9110 5.6.7) or a `Last-Modified`
    later than the answer's `Date` (8.8.2.1); a warning is reported, and fails nothing."""
    broken = []
    for name, subject, summary in lint(exchange):
        verdict = readings.lint_verdict(name, subject)
        if verdict == "violation":
            broken.append((name, subject, summary))
        elif verdict == "warning":
            where = _location(subject)
            trace.warn(ContractWarning.of(exchange, "http_message_lint", name, where, summary))
    if broken:
        name, subject, summary = broken[0]
        reason = readings.LINT_NOTES.get(name, ("", ""))[1]
        raise Broken(
            exchange.masker.text("; ".join(f"{s} (httplint {n})" for n, _, s in broken)),
            expected=reason,
            actual=exchange.masker.text(f"{name}: {summary}"),
            location=_location(subject),
        )


def _location(subject: str) -> str:
    """httplint's subject (`field-date`, `status`, ...) as the suite's location."""
    first = subject.split()[0] if subject else "message"
    return f"header {first.removeprefix('field-')}" if first.startswith("field-") else first
