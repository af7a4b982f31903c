"""The requirements table: every requirement that binds an origin server answering the API (RFC
9112, 9110, 9111, the Fetch standard's CORS protocol, RFC 9457, the OWASP API Security Top 10
(2023) and the spec), each with the checks that cover it, or why none applies, or what a check
still has to do. The data is `requirements.yaml` beside this module (shipped in the wheel);
`python -m conformance requirements` prints it, tests/contract/test_requirements.py holds it to
the check catalogue.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from importlib.resources import files
from typing import Any

import yaml

#: The file, beside this module.
FILE = "requirements.yaml"
LEVELS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "risk")
#: How a row is settled: its key in the file, and the status the table shows.
COVERED, NOT_APPLICABLE, WAIVED, OPEN = "covered", "n/a", "waived", "open"
STATUSES = (COVERED, OPEN, NOT_APPLICABLE, WAIVED)
_FIELDS = {
    "id",
    "source",
    "section",
    "level",
    "paraphrase",
    "checks",
    "n/a",
    "waived",
    "open",
    "note",
}


class TableError(ValueError):
    """The table file breaks its own format (a row names the row and what is wrong)."""


@dataclass(frozen=True)
class Requirement:
    """One row: a requirement, where it is written, and how the suite answers it."""

    id: str
    source: str
    section: str
    level: str
    paraphrase: str
    status: str  # one of STATUSES
    checks: tuple[str, ...] = ()
    #: Why it does not apply (n/a), why it is not enforced (waived), what a check should do (open).
    reason: str = ""
    #: Where the covering checks hold less than the sentence (a reading, a case not sent).
    note: str = ""


@dataclass(frozen=True)
class Table:
    sources: dict[str, str]  # source name -> title, in the file's order
    rows: tuple[Requirement, ...]

    def counts(self, rows: Iterable[Requirement] | None = None) -> dict[str, int]:
        """How many rows have each status (all rows, or `rows`)."""
        chosen = list(self.rows if rows is None else rows)
        return {status: sum(row.status == status for row in chosen) for status in STATUSES}

    def checks(self) -> set[str]:
        """Every check some row names."""
        return {name for row in self.rows for name in row.checks}


def load(text: str | None = None) -> Table:
    """The table (the shipped file unless `text` is given); `TableError` when it is malformed."""
    if text is None:
        text = files("conformance._contract").joinpath(FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or set(data) != {"sources", "requirements"}:
        raise TableError("expected a mapping with `sources` and `requirements`")
    sources, entries = data["sources"], data["requirements"]
    if not isinstance(sources, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in sources.items()
    ):
        raise TableError("`sources` must map each source's name to its title")
    if not isinstance(entries, list):
        raise TableError("`requirements` must be a list of rows")
    rows: list[Requirement] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        row = _row(entry, index, sources)
        if row.id in seen:
            raise TableError(f"{row.id}: id used twice")
        seen.add(row.id)
        rows.append(row)
    return Table(dict(sources), tuple(rows))


def _row(entry: Any, index: int, sources: Mapping[str, str]) -> Requirement:
    where = f"row {index + 1}"
    if not isinstance(entry, dict):
        raise TableError(f"{where}: expected a mapping")
    where = str(entry.get("id") or where)
    unknown = set(entry) - _FIELDS
    if unknown:
        raise TableError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    text = {}
    for name in ("id", "source", "section", "level", "paraphrase"):
        value = entry.get(name)
        if not isinstance(value, str) or not value.strip() or "\n" in value:
            raise TableError(f"{where}: `{name}` must be a non-empty line of text")
        text[name] = value.strip()
    if text["source"] not in sources:
        raise TableError(f"{where}: unknown source {text['source']!r}")
    if text["level"] not in LEVELS:
        raise TableError(f"{where}: level {text['level']!r} is none of {', '.join(LEVELS)}")
    checks = entry.get("checks", [])
    if not isinstance(checks, list) or not all(isinstance(c, str) and c for c in checks):
        raise TableError(f"{where}: `checks` must be a list of check names")
    if len(set(checks)) != len(checks):
        raise TableError(f"{where}: a check named twice")
    settled = [key for key in ("n/a", "waived", "open") if key in entry]
    if checks and settled:
        raise TableError(f"{where}: names checks and is {settled[0]} too")
    if len(settled) > 1:
        raise TableError(f"{where}: {' and '.join(settled)} at once")
    if not checks and not settled:
        raise TableError(f"{where}: no checks, no n/a, no waived and no open: unmapped")
    status, reason = COVERED, ""
    if settled:
        status, reason = settled[0], entry[settled[0]]
        if not isinstance(reason, str) or not reason.strip() or "\n" in reason:
            raise TableError(f"{where}: `{status}` needs its reason, one line of text")
        if status == WAIVED and not text["level"].startswith("SHOULD"):
            raise TableError(f"{where}: only a SHOULD or SHOULD NOT can be waived")
    note = entry.get("note", "")
    if not isinstance(note, str) or "\n" in note or ("note" in entry and not note.strip()):
        raise TableError(f"{where}: `note` must be a non-empty line of text")
    if note and status != COVERED:
        raise TableError(f"{where}: a note belongs to a covered row; say it in its {status}")
    return Requirement(
        text["id"],
        text["source"],
        text["section"],
        text["level"],
        text["paraphrase"],
        status,
        tuple(checks),
        reason.strip(),
        note.strip(),
    )


def summary(table: Table, rows: Iterable[Requirement]) -> str:
    """`N requirements: a covered, b open, c n/a, d waived` (of `rows`)."""
    chosen = list(rows)
    counts = table.counts(chosen)
    parts = ", ".join(f"{counts[status]} {status}" for status in STATUSES)
    noun = "requirement" if len(chosen) == 1 else "requirements"
    return f"{len(chosen)} {noun}: {parts}"


def _verdict(row: Requirement) -> str:
    if row.status == COVERED:
        return "checks: " + ", ".join(row.checks)
    label = "OPEN" if row.status == OPEN else row.status
    return f"{label}: {row.reason}"


def render_text(table: Table, rows: Iterable[Requirement], width: int = 100) -> str:
    """The rows grouped by source: section, level, id, then the paraphrase and the verdict."""
    chosen = list(rows)
    out: list[str] = []
    for source, title in table.sources.items():
        group = [row for row in chosen if row.source == source]
        if not group:
            continue
        out += ["", f"{source}: {title} -- {summary(table, group)}"]
        for row in group:
            out.append(f"  {row.section}  {row.level}  [{row.id}]")
            notes = [f"note: {row.note}"] if row.note else []
            for text in (row.paraphrase, _verdict(row), *notes):
                out += textwrap.wrap(
                    text,
                    width,
                    initial_indent="      ",
                    subsequent_indent="        ",
                    break_on_hyphens=False,
                )
    out += ["", summary(table, chosen)]
    return "\n".join(out[1:]) + "\n"


def render_markdown(table: Table, rows: Iterable[Requirement]) -> str:
    """One Markdown table per source."""
    chosen = list(rows)
    out = [f"# Requirements\n\n{summary(table, chosen)}\n"]
    for source, title in table.sources.items():
        group = [row for row in chosen if row.source == source]
        if not group:
            continue
        out += [
            f"\n## {source}: {title}\n",
            "| id | section | level | requirement | covered by |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in group:
            if row.status == COVERED:
                verdict = ", ".join(f"`{name}`" for name in row.checks)
                verdict += f" (note: {row.note})" if row.note else ""
            else:
                label = "**OPEN**" if row.status == OPEN else row.status
                verdict = f"{label}: {row.reason}"
            cells = (f"`{row.id}`", row.section, row.level, row.paraphrase, verdict)
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(out) + "\n"


def render_json(table: Table, rows: Iterable[Requirement]) -> str:
    """The sources and the rows as JSON (a row's `checks` as a list)."""
    chosen = [{**asdict(row), "checks": list(row.checks)} for row in rows]
    return json.dumps({"sources": table.sources, "requirements": chosen}, indent=2) + "\n"
