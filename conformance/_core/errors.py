"""The two error families: the server broke the contract, or the operator/environment is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from conformance._core.exchange import Exchange


class ExitCode(IntEnum):
    """How a conformance run ends: pytest's own codes, and one for an unavailable target."""

    meaning: str

    def __new__(cls, value: int, meaning: str) -> ExitCode:
        member = int.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        return member

    CONFORMANT = 0, "conformant: no violation found"
    VIOLATIONS = 1, "violations: the target broke the contract"
    INTERRUPTED = 2, "interrupted"
    INTERNAL_ERROR = 3, "internal error of the suite"
    USAGE_ERROR = 4, "usage error: the run's configuration is wrong"
    NO_TESTS = 5, "no tests ran"
    #: sysexits EX_TEMPFAIL: nothing was judged, try again later
    TARGET_UNAVAILABLE = 75, "target unavailable: nothing was judged, try again later"

    @classmethod
    def meaning_of(cls, status: int) -> str:
        known = {code.value: code.meaning for code in cls}
        return known.get(status, "unexpected exit status")


class ConfigError(Exception):
    """The operator's configuration is wrong (bad option, unreadable spec, missing key)."""


class TargetUnavailable(Exception):
    """The target could not be reached, or said (retryably) that it cannot serve right now."""


@dataclass(frozen=True)
class ContractWarning:
    """Something a check reports without failing anything (a lint note our readings make a
    warning): which check, what (`note`, the root cause warnings are grouped by), where, and
    on which request and status; masked."""

    check: str
    note: str
    message: str
    location: str = ""
    request: str = ""
    status: int | None = None

    @classmethod
    def of(
        cls, exchange: Exchange, check: str, note: str, location: str, message: str
    ) -> ContractWarning:
        return cls(
            check,
            note,
            exchange.masker.text(message),
            location,
            exchange.request_line(),
            exchange.status,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "note": self.note,
            "message": self.message,
            "location": self.location,
            "request": self.request,
            "status": self.status,
        }


@dataclass(eq=False)
class ContractViolation(AssertionError):
    """The server broke one invariant of the contract, with the evidence."""

    check: str
    message: str
    expected: str = ""
    actual: str = ""
    location: str = ""
    exchanges: list[Exchange] = field(default_factory=list)
    related: list[ContractViolation] = field(default_factory=list)
    #: How the check was called, as JSON (exchanges by their index in `exchanges`, keys by
    #: their name, never themselves), for a replay to call it again; None: not recorded.
    arguments: list[Any] | None = None
    #: The index in `exchanges` of the one the finding is about (None: the only one, or all).
    subject: int | None = None

    @classmethod
    def combine(cls, violations: list[ContractViolation]) -> ContractViolation:
        """One violation to raise for several (found on one answer, or by one test): the
        first, with every other one, flattened, as `related`."""
        first, *rest = [leaf for violation in violations for leaf in violation.leaves()]
        first.related = rest
        return first

    def leaves(self) -> list[ContractViolation]:
        """This violation and every one found with it, depth first, each without `related`."""
        found = [self]
        for related in self.related:
            found += related.leaves()
        self.related = []
        return found

    @property
    def checks(self) -> list[str]:
        """Names of every check this violation (and those found with it) broke."""
        return [self.check, *(v.check for v in self.related)]

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def mask(self, text: str) -> str:
        """Hide the run's secrets in text derived from this violation's evidence."""
        return self.exchanges[0].masker.text(text) if self.exchanges else text

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record of the violation (secrets masked)."""
        return {
            "check": self.check,
            "message": self.mask(self.message),
            "expected": self.mask(self.expected),
            "actual": self.mask(self.actual),
            "location": self.mask(self.location),
            "exchanges": [exchange.as_dict() for exchange in self.exchanges],
            "related": [violation.as_dict() for violation in self.related],
            **({} if self.arguments is None else {"arguments": self.arguments}),
            **({} if self.subject is None else {"subject": self.subject}),
        }


def violations_in(exc: BaseException) -> list[ContractViolation]:
    """The violations an exception carries: itself, or every leaf of a group (hypothesis
    raises an ExceptionGroup when it finds several distinct failures). Empty if any leaf is
    something else (an internal error must keep its traceback)."""
    if isinstance(exc, ContractViolation):
        return [exc]
    if isinstance(exc, BaseExceptionGroup):
        found = [violations_in(e) for e in exc.exceptions]
        return [v for leaves in found for v in leaves] if all(found) else []
    return []
