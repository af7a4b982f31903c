"""Plain-text rendering of violations: what was expected, what came back, how to reproduce."""

from __future__ import annotations

from conformance._core.errors import ContractViolation
from conformance._core.exchange import Exchange
from conformance.checks import CATALOGUE


def format_violation(violation: ContractViolation) -> str:
    """The failure text shown to a person: one block per broken check, then the evidence,
    each exchange once (the checks of one test may have judged several answers)."""
    found = [violation, *violation.related]
    blocks = [_describe(v) for v in found]
    exchanges = list({id(e): e for v in found for e in v.exchanges}.values())
    evidence = [_exchange(e) for e in exchanges]
    return violation.mask("\n\n".join([*blocks, *evidence]))


def _describe(violation: ContractViolation) -> str:
    invariant = CATALOGUE.get(violation.check)
    lines = [f"[{violation.check}] {violation.message}"]
    if invariant is not None:
        lines.append(f"  rule:      {invariant.rule}")
    for label, value in (
        ("where", violation.location),
        ("expected", violation.expected),
        ("actual", violation.actual),
    ):
        if value:
            lines.append(f"  {label + ':':<10} {value}")
    return "\n".join(lines)


def _exchange(exchange: Exchange) -> str:
    lines = [f"  request:   {exchange.request_line()}"]
    lines += [
        f"             {name}: {exchange.masker.header(name, value)}"
        for name, value in exchange.request_headers.items()
    ]
    if exchange.status is None:
        lines.append(f"  response:  none ({exchange.error})")
    else:
        media = exchange.headers.get("content-type", "no content-type")
        lines.append(f"  response:  {exchange.status} {media} ({exchange.elapsed:.3f} s)")
        if exchange.error:
            lines.append(f"             ({exchange.error})")
        if exchange.body:
            lines.append(f"             {exchange.excerpt()}")
    lines.append(f"  reproduce: {exchange.curl()}")
    return "\n".join(lines)
