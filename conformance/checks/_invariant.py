"""How a check is declared: a pure function that raises `Broken`, named after what it enforces."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from conformance._contract.expect import Expected, Storage
from conformance._contract.spec import Contract, Operation
from conformance._core import trace
from conformance._core.errors import ContractViolation
from conformance._core.exchange import Exchange

F = TypeVar("F", bound=Callable[..., None])


@dataclass(frozen=True)
class Invariant:
    """A named check, the sentence of the contract it rests on (its docstring), and the
    function itself (a violation found raises, or is kept while the test collects them)."""

    name: str
    rule: str
    function: Callable[..., None] | None = field(default=None, compare=False, repr=False)


#: Every check of the suite, by name, in declaration order.
CATALOGUE: dict[str, Invariant] = {}


class Broken(Exception):
    """Raised inside a check; the decorator turns it into a `ContractViolation` with evidence."""

    def __init__(
        self,
        message: str,
        *,
        expected: str = "",
        actual: str = "",
        location: str = "",
        subject: Exchange | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual
        self.location = location
        #: The exchange the finding is about, among several the check compared.
        self.subject = subject


def invariant(func: F) -> F:
    """Register a check; a `Broken` it raises becomes a `ContractViolation` naming the check,
    with the evidence and how it was called (`ContractViolation.arguments`), raised at once or
    kept until the end of the test (`trace.found`)."""
    name = func.__name__

    @functools.wraps(func)
    def wrapper(*args: Any) -> None:
        trace.current().exercised.add(name)
        try:
            func(*args)
        except Broken as broken:
            exchanges = _exchanges(*args)
            subject = broken.subject or (exchanges[0] if len(exchanges) == 1 else None)
            violation = ContractViolation(
                check=name,
                message=broken.message
                + (subject.foreign_note(broken.location == "connection") if subject else ""),
                expected=broken.expected,
                actual=broken.actual,
                location=broken.location,
                exchanges=exchanges,
                arguments=recorded_arguments(args, exchanges),
                subject=_index_of(broken.subject, exchanges),
            )
            trace.found([violation])

    CATALOGUE[name] = Invariant(name, " ".join((func.__doc__ or "").split()), wrapper)
    return wrapper  # type: ignore[return-value]


def _index_of(subject: Exchange | None, exchanges: list[Exchange]) -> int | None:
    return next((i for i, e in enumerate(exchanges) if e is subject), None)


class _NotRecordable(Exception):
    """An argument a replay could not rebuild (or that holds a secret it has no name for)."""


def recorded_arguments(args: Iterable[Any], exchanges: list[Exchange]) -> list[Any] | None:
    """How a check was called, as JSON: an exchange as `{"$exchange": i}` (its index in
    `exchanges`), a named key as `{"$secret": NAME}`, the contract and an operation by
    reference, the canary's expectation by its period, a set as `{"$set": [...]}`, a tuple
    or list as a list; None when an argument is none of these (no replay can call it again)."""
    index = {id(exchange): i for i, exchange in enumerate(exchanges)}
    masker = exchanges[0].masker if exchanges else None

    def encode(value: Any) -> Any:
        if isinstance(value, Exchange):
            return {"$exchange": index[id(value)]}
        if isinstance(value, Contract):
            return {"$contract": value.sha256}
        if isinstance(value, Operation):
            return {"$operation": value.label}
        if isinstance(value, Expected):
            return {"$canary_expected": value.period.isoformat()}
        if isinstance(value, Storage):
            return {"$canary_storage": True}
        if isinstance(value, str):
            name = masker.name_of(value) if masker is not None else None
            if name is not None:
                return {"$secret": name}
            if masker is not None and masker.text(value) != value:
                raise _NotRecordable(value)  # a secret without a name: never written
            return value
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, set | frozenset):
            return {"$set": sorted((encode(item) for item in value), key=repr)}
        if isinstance(value, list | tuple):
            return [encode(item) for item in value]
        raise _NotRecordable(type(value).__name__)

    try:
        return [encode(value) for value in args]
    except _NotRecordable:
        return None


def _exchanges(*values: Any) -> list[Exchange]:
    found: list[Exchange] = []
    for value in values:
        if isinstance(value, Exchange):
            found.append(value)
        elif isinstance(value, list | tuple):
            found.extend(item for item in value if isinstance(item, Exchange))
    return found


def at_field(name: str, message: str, *, expected: object, actual: object) -> Broken:
    """A `Broken` about one field of the JSON body (`$.name`)."""
    return Broken(message, expected=str(expected), actual=str(actual), location=f"$.{name}")


def same_fields(
    names: Iterable[str], one: Mapping[str, Any], two: Mapping[str, Any], message: str
) -> None:
    """Raise `Broken` at the first of `names` whose value differs between two bodies
    (`message` says what differs, `{name}` standing for the field)."""
    for name in names:
        if one.get(name) != two.get(name):
            shown = [repr(body[name]) if name in body else "(missing)" for body in (one, two)]
            raise at_field(name, message.format(name=name), expected=shown[0], actual=shown[1])


def zero_fields(names: Iterable[str], body: Mapping[str, Any], message: str, expected: str) -> None:
    """Raise `Broken` at the first of `names` whose value is a non-zero integer (`message`
    says why it must be 0, `{name}` and `{value}` standing for the field and its value)."""
    for name in names:
        value = body.get(name)
        if type(value) is int and value != 0:
            text = message.format(name=name, value=f"{value:,}")
            raise at_field(name, text, expected=expected, actual=value)


def both_answered(
    reference: Exchange, variant: Exchange, what: str, expected: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The usage bodies of two requests meant to get the same answer; `Broken` (at the
    status) when either is not one: `what` names the variant's answer, `expected` the rule."""
    one, two = usage_body(reference), usage_body(variant)
    if one is None or two is None:
        subject = variant if two is None else reference
        raise Broken(
            what, expected=expected, actual=describe(subject), location="status", subject=subject
        )
    return one, two


def usage_body(exchange: Exchange) -> dict[str, Any] | None:
    """The JSON object of a 200 response (None for any other answer)."""
    ok, body = exchange.parsed
    return body if exchange.status == 200 and ok and isinstance(body, dict) else None


def require_usage(exchange: Exchange, what: str) -> dict[str, Any]:
    """The usage body of a response that must be one (`what`: which read); else `Broken`."""
    body = usage_body(exchange)
    if body is None:
        raise Broken(
            f"{what}: expected a 200 usage body, got {describe(exchange)}",
            expected="200",
            actual=describe(exchange),
            location="status",
            subject=exchange,
        )
    return body


def error_body(exchange: Exchange) -> dict[str, Any]:
    """The JSON object of an error response (empty when the body is not one)."""
    ok, body = exchange.parsed
    return body if ok and isinstance(body, dict) else {}


def expect_status(exchange: Exchange, allowed: tuple[int, ...], what: str) -> None:
    """Raise `Broken` unless the response's status is one of `allowed`."""
    if exchange.status not in allowed:
        raise Broken(
            f"{what} answered {describe(exchange)}",
            expected=" or ".join(str(status) for status in allowed),
            actual=describe(exchange),
            location="status",
            subject=exchange,
        )


def describe(exchange: Exchange) -> str:
    """A short 'what came back' for messages: status and error_code or transport error."""
    if exchange.error:
        return exchange.error
    code = error_body(exchange).get("error_code")
    return f"{exchange.status}" + (f" {code}" if isinstance(code, str) else "")
