"""The requirements table (conformance/_contract/requirements.yaml): it loads, every check it
names exists, every check of the catalogue is named, every row is settled (checks, n/a, waived
or a listed open row), and `python -m conformance requirements` prints it."""

from __future__ import annotations

import json
import re

import pytest

from conformance.__main__ import main
from conformance._contract import readings, requirements
from conformance._contract.requirements import TableError, load
from conformance._run.generated import _builtin_checks
from conformance.checks import CATALOGUE
from conformance.mock import VARIANTS
from tests._support import run_module

TABLE = load()
#: schemathesis's response checks the suite runs, as the reports name them.
SCHEMATHESIS = frozenset(f"st.{check.__name__}" for check in _builtin_checks())
#: The rows that apply and that no check covers yet (`open:`), each to be resolved: a check
#: that covers it (then the row names it and leaves this list), or a reading that makes it n/a.
#: A new open row must be added here on purpose.
OPEN = frozenset(
    {
        "rfc9110-6.5-trailers",
    }
)
#: Every source the table walks (issue 23), and those it cites for checks resting elsewhere.
WALKED = ("RFC 9112", "RFC 9110", "RFC 9111", "Fetch", "RFC 9457", "OWASP API 2023")
CITED = ("DCS spec", "RFC 8259", "RFC 7493", "RFC 6750")


def test_every_named_check_exists():
    unknown = TABLE.checks() - set(CATALOGUE) - SCHEMATHESIS
    assert not unknown, f"rows name checks that do not exist: {sorted(unknown)}"


def test_every_check_is_named_by_a_row():
    unnamed = set(CATALOGUE) - TABLE.checks()
    assert not unnamed, f"checks no row names: {sorted(unnamed)}"


def test_every_row_is_settled():
    by_status = {status: [row for row in TABLE.rows if row.status == status] for status in
                 requirements.STATUSES}  # fmt: skip
    assert all(row.checks for row in by_status[requirements.COVERED])
    for status in (requirements.NOT_APPLICABLE, requirements.WAIVED, requirements.OPEN):
        assert all(row.reason and not row.checks for row in by_status[status]), status


def test_open_rows_are_the_listed_ones():
    found = {row.id for row in TABLE.rows if row.status == requirements.OPEN}
    assert found - OPEN == set(), f"open rows not listed in OPEN: {sorted(found - OPEN)}"
    assert OPEN - found == set(), f"no longer open, remove from OPEN: {sorted(OPEN - found)}"


def test_sources_are_the_walked_and_cited_ones():
    assert tuple(TABLE.sources) == WALKED + CITED
    assert {row.source for row in TABLE.rows} == set(WALKED + CITED)


def test_sections_are_section_numbers():
    """RFC rows cite numbered sections (a list of them); Fetch rows an anchor too."""
    numbers = re.compile(r"\d+(\.\d+)*(, \d+(\.\d+)*)*")
    for row in TABLE.rows:
        if row.source.startswith("RFC "):
            assert numbers.fullmatch(row.section), row.id
        if row.source == "Fetch":
            assert re.search(r"\(#[a-z-]+(, #[a-z-]+)*\)$", row.section), row.id


def test_named_variants_and_readings_exist():
    """A reason that rests on a correct variant or a reading names one that exists."""
    for row in TABLE.rows:
        text = f"{row.reason} {row.note}"
        for group in re.findall(r"variants? ((?:`?[a-z0-9_]+`?(?:,? and |, )?)+)", text):
            for name in re.findall(r"[a-z][a-z0-9_]+", group):
                if "_" in name:
                    assert name in VARIANTS, f"{row.id}: no variant {name}"
        for name in re.findall(r"readings\.([A-Z_]+)", text):
            assert hasattr(readings, name), f"{row.id}: no readings.{name}"


def test_every_owasp_risk_has_a_row():
    risks = {row.section.split(":")[0] for row in TABLE.rows if row.source == "OWASP API 2023"}
    assert risks == {f"API{n}" for n in range(1, 11)}


def test_waived_only_should():
    waived = [row for row in TABLE.rows if row.status == requirements.WAIVED]
    assert waived and all(row.level.startswith("SHOULD") for row in waived)


ROW = """
  - id: x-1
    source: RFC 9110
    section: "9.1"
    level: MUST
    paraphrase: GET is supported.
"""


def table(rows: str) -> str:
    return "sources:\n  RFC 9110: HTTP Semantics\nrequirements:" + rows


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (ROW + "    checks: [head_matches_get]\n" + ROW + "    n/a: not here", "id used twice"),
        (ROW, "unmapped"),
        (ROW + "    checks: []\n", "unmapped"),
        (ROW + "    checks: [a]\n    n/a: not here\n", "names checks and is n/a too"),
        (ROW + '    n/a: ""\n', "needs its reason"),
        (ROW + '    open: "  "\n', "needs its reason"),
        (ROW + "    waived: a MUST cannot be\n", "only a SHOULD"),
        (ROW + "    n/a: x\n    waived: y\n", "n/a and waived at once"),
        (ROW.replace("RFC 9110", "RFC 2616") + "    n/a: x\n", "unknown source"),
        (ROW.replace("MUST", "MAY") + "    n/a: x\n", "level 'MAY'"),
        (ROW + "    n/a: x\n    remark: y\n", "unknown field(s) remark"),
        (ROW + "    n/a: x\n    note: y\n", "a note belongs to a covered row"),
        (ROW.replace("GET is supported.", '""') + "    n/a: x\n", "`paraphrase` must be"),
        (ROW + "    checks: [a, a]\n", "a check named twice"),
    ],
)
def test_a_malformed_table_is_refused(rows, message):
    with pytest.raises(TableError, match=re.escape(message)):
        load(table(rows))


def test_the_table_prints_grouped_by_source(capsys):
    assert main(["requirements"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("RFC 9112: HTTP/1.1")
    assert "[rfc9110-6.6.1-date]" in out and "checks: date_present" in out
    assert "OPEN: " in out and "n/a: " in out and "waived: " in out
    counts = TABLE.counts()
    assert out.rstrip().endswith(
        f"{len(TABLE.rows)} requirements: {counts['covered']} covered, {counts['open']} open, "
        f"{counts['n/a']} n/a, {counts['waived']} waived"
    )


def test_open_rows_only(capsys):
    assert main(["requirements", "--open", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["requirements"]
    assert {row["id"] for row in rows} == OPEN
    assert all(row["status"] == "open" and row["reason"] for row in rows)


def test_rows_of_one_check(capsys):
    assert main(["requirements", "--check", "problem_status_matches", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["requirements"]
    assert [row["id"] for row in rows] == ["rfc9457-3.1.2-status"]


def test_markdown_and_one_source(capsys):
    assert main(["requirements", "--format", "md", "--source", "RFC 9457"]) == 0
    out = capsys.readouterr().out
    assert "## RFC 9457: Problem Details for HTTP APIs" in out and "## RFC 9110" not in out
    assert "| `rfc9457-3.1.2-status` | 3.1.2 | MUST |" in out


@pytest.mark.e2e
def test_the_command_as_a_user_runs_it():
    done = run_module("conformance", "requirements", "--open")
    assert done.returncode == 0, done.stderr
    assert f"{len(OPEN)} requirement" in done.stdout
    assert f": 0 covered, {len(OPEN)} open" in done.stdout
    refused = run_module("conformance", "requirements", "--source", "RFC 2616")
    assert refused.returncode == 4 and "unknown source 'RFC 2616'" in refused.stderr
    assert run_module("conformance").returncode == 4
