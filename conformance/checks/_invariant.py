"""How a check is declared: a pure function that raises `Broken`, named after what it enforces."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from conformance._core import trace
from conformance._core.errors import ContractViolation
from conformance._core.exchange import Exchange

F = TypeVar("F", bound=Callable[..., None])


@dataclass(frozen=True)
class Invariant:
    """A named check and the sentence of the contract it rests on (its docstring)."""

    name: str
    rule: str


#: Every check of the suite, by name, in declaration order.
CATALOGUE: dict[str, Invariant] = {}


class Broken(Exception):
    """Raised inside a check; the decorator turns it into a `ContractViolation` with evidence."""

    def __init__(self, message: str, *, expected: str = "", actual: str = "", location: str = ""):
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual
        self.location = location


def invariant(func: F) -> F:
    """Register a check; a `Broken` it raises becomes a `ContractViolation` naming the check."""
    name = func.__name__
    CATALOGUE[name] = Invariant(name, " ".join((func.__doc__ or "").split()))

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        trace.current().exercised.add(name)
        try:
            func(*args, **kwargs)
        except Broken as broken:
            raise ContractViolation(
                check=name,
                message=broken.message,
                expected=broken.expected,
                actual=broken.actual,
                location=broken.location,
                exchanges=_exchanges(*args, *kwargs.values()),
            ) from None

    return wrapper  # type: ignore[return-value]


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
        raise Broken(what, expected=expected, actual=describe(variant), location="status")
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
        )


def describe(exchange: Exchange) -> str:
    """A short 'what came back' for messages: status and error_code or transport error."""
    if exchange.error:
        return exchange.error
    code = error_body(exchange).get("error_code")
    return f"{exchange.status}" + (f" {code}" if isinstance(code, str) else "")
