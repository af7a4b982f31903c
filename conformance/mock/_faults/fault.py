"""What a fault of the catalogue is: a name, what breaks, the suite checks expected to catch it,
and how it is layered on the correct mock (``catalogue.py`` and ``request_space.py`` hold them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conformance.mock._layers import Apply


@dataclass(frozen=True)
class Fault:
    """One way a backend breaks the contract, and the suite checks expected to catch it."""

    name: str
    description: str
    expected_checks: tuple[str, ...]
    apply: Apply = field(repr=False, compare=False)
    family: str = ""


@dataclass(frozen=True)
class KnownLimit:
    """A fault the suite cannot catch without risking false alarms, and why."""

    fault: Fault
    reason: str


def family(name: str, *faults: Fault) -> list[Fault]:
    """``faults`` as members of family ``name``."""
    return [Fault(f.name, f.description, f.expected_checks, f.apply, name) for f in faults]
