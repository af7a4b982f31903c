"""The two error families and the exit codes (conformance/_core/errors.py): one enum, the README's
table written from the same numbers, and the violations an exception carries."""

from __future__ import annotations

import re

from conformance._core.errors import ContractViolation, ExitCode, violations_in
from tests._support import REPO


def readme_exit_codes() -> dict[int, str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Exit codes", 1)[1].split("\n### ", 1)[0]
    return {
        int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.M)
    }


def test_the_readme_table_is_the_enum():
    assert set(readme_exit_codes()) == {code.value for code in ExitCode}


def test_every_code_says_what_it_means():
    assert ExitCode.TARGET_UNAVAILABLE == 75 and "try again later" in ExitCode(75).meaning
    assert ExitCode.meaning_of(1) == ExitCode.VIOLATIONS.meaning
    assert ExitCode.meaning_of(42) == "unexpected exit status"


def test_violations_are_found_in_groups_and_nothing_else_is():
    one, two = ContractViolation("a", "m1"), ContractViolation("b", "m2")
    assert violations_in(one) == [one]
    assert violations_in(ExceptionGroup("two", [one, two])) == [one, two]
    nested = ExceptionGroup("outer", [one, ExceptionGroup("inner", [two])])
    assert violations_in(nested) == [one, two]
    assert (
        violations_in(ExceptionGroup("mixed", [one, ValueError("bug")])) == []
    )  # keep its traceback
    assert violations_in(ValueError("bug")) == []


def test_a_violation_combines_those_found_with_it():
    first = ContractViolation("a", "m1")
    combined = ContractViolation.combine([first, ContractViolation("b", "m2")])
    assert combined is first and combined.checks == ["a", "b"]


def test_combining_flattens_what_was_found_with_each():
    a, b, c, d = (ContractViolation(name, name) for name in "abcd")
    first = ContractViolation.combine([a, b])
    combined = ContractViolation.combine([ContractViolation.combine([c, d]), first])
    assert combined is c and combined.checks == ["c", "d", "a", "b"]
    assert all(not violation.related for violation in combined.related)


def test_a_violation_records_how_its_check_was_called():
    violation = ContractViolation("a", "m", arguments=[{"$exchange": 0}, [200]], subject=0)
    assert violation.as_dict()["arguments"] == [{"$exchange": 0}, [200]]
    assert violation.as_dict()["subject"] == 0
    assert "arguments" not in ContractViolation("a", "m").as_dict()
