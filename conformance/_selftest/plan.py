"""What the kill matrix runs and how hard (`Options`), one suite run's record (`Run`), and the
names it accepts: the fault and variant catalogues of `conformance.mock`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conformance.mock import FAULTS, KNOWN_LIMITS, VARIANTS

SUITE = Path(__file__).resolve().parent.parent  # conformance/


BASELINE = "correct mock"


@dataclass(frozen=True)
class Options:
    """What to run and how hard."""

    faults: tuple[str, ...] = tuple(FAULTS)
    limits: tuple[str, ...] = tuple(limit.fault.name for limit in KNOWN_LIMITS)
    variants: tuple[str, ...] = tuple(VARIANTS)
    seeds: int = 5  # runs of the mock and of each variant, each with its own hypothesis seed
    seed: int = 1  # first of those seeds; fault runs use it too
    jobs: int = 2
    max_examples: int = 25
    deadline: float = 5.0  # --request-deadline of each run
    run_timeout: float = 300.0
    startup_timeout: float = 20.0
    #: a reverse proxy (`edges.EDGES`) between the suite and each server, or none
    edge: str | None = None


@dataclass
class Run:
    """One suite run against one server."""

    label: str
    faults: tuple[str, ...]
    seed: int
    exit: int | None = None
    failed_checks: list[str] = field(default_factory=list)
    first_failure_s: float | None = None
    wall_s: float = 0.0
    note: str = ""
    variants: tuple[str, ...] = ()
    #: of a failed run: its first root cause in a line (check, message, test, re-sends)
    evidence: str = ""


def split_names(names: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(faults, known limits) among ``names``; KeyError for an unknown name."""
    limits = {limit.fault.name for limit in KNOWN_LIMITS}
    unknown = [n for n in names if n not in FAULTS and n not in limits]
    if unknown:
        raise KeyError(f"unknown fault(s): {', '.join(unknown)} (see --list-faults)")
    return (
        tuple(n for n in names if n in FAULTS),
        tuple(n for n in names if n in limits),
    )


def family_faults(families: Sequence[str]) -> tuple[str, ...]:
    """The faults of the catalogue in ``families``; KeyError for an unknown family."""
    known = {fault.family for fault in FAULTS.values()}
    unknown = [f for f in families if f not in known]
    if unknown:
        raise KeyError(
            f"unknown fault families: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    return tuple(name for name, fault in FAULTS.items() if fault.family in families)


def split_variants(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` checked against the variant catalogue; KeyError for an unknown name."""
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise KeyError(
            f"unknown variant(s): {', '.join(unknown)} "
            "(see python -m conformance.mock --list-variants)"
        )
    return tuple(names)


def variant_label(name: str, seed: int) -> str:
    return f"{name} (seed {seed})"


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DCS_", "PYTEST_"))}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    return env
