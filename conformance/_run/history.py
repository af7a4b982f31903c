"""What a run is told of earlier ones: a baseline of known failures (`--baseline FILE`, a YAML
file; `--write-baseline FILE` writes one) and an earlier run's summary.json (`--previous
FILE`). Read and validated with the settings, before any request: a mistake is one
`ConfigError` line (exit 4). What they mean for the run's root causes is `_report/triage.py`.

A baseline:

    format: dcs-conformance/baseline/1          # optional
    known:
      - id: "$.error_code not UPPER_SNAKE_CASE"  # a root cause, as summary.json's groups[].id
        reason: "codes are lower case until the gateway rewrite (sprint 42)"
        expires: 2026-02-01                      # known through that day (UTC)
        issue: https://tracker.example/DCS-123   # optional
        check: error_code_format                 # optional, for people: not matched
        symptom: "[error_code_format] ..."       # optional, for people: not matched
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from conformance._core.dates import parse_date
from conformance._core.errors import ConfigError
from conformance._report.triage import BASELINE_FORMAT, Baseline, Entry, Previous
from conformance.yaml_input import Invalid, items, mapping, read_yaml

SUMMARY_FORMATS = ("dcs-conformance/summary/2", "dcs-conformance/summary/3")
_ENTRY_FIELDS = frozenset({"issue", "check", "symptom"})


def load_baseline(path: str | Path, option: str = "--baseline") -> Baseline:
    """Read and validate a baseline; any mistake is one `ConfigError` line naming the option."""
    try:
        return parse_baseline(read_yaml(path), str(path))
    except Invalid as exc:
        raise ConfigError(f"{option} {path}: {exc}") from None


def parse_baseline(document: Any, path: str) -> Baseline:
    """The baseline a parsed YAML document describes (`Invalid` for any mistake)."""
    top = mapping(document, "top level", required={"known"}, optional={"format"})
    if "format" in top and top["format"] != BASELINE_FORMAT:
        raise Invalid(f"format {top['format']!r}: expected {BASELINE_FORMAT}")
    entries = tuple(
        _entry(raw, number) for number, raw in enumerate(items(top["known"] or [], "known"), 1)
    )
    ids = [entry.id for entry in entries]
    twice = sorted({cause for cause in ids if ids.count(cause) > 1})
    if twice:
        raise Invalid(f"root cause {twice[0]!r} is listed twice")
    return Baseline(path, entries)


def _entry(raw: Any, number: int) -> Entry:
    where = f"known[{number}]"
    fields = mapping(raw, where, required={"id", "reason", "expires"}, optional=_ENTRY_FIELDS)
    cause = fields["id"]
    if not isinstance(cause, str) or not cause.strip():
        raise Invalid(f"{where}: id must be a root cause's id (summary.json groups[].id)")
    where = f"{where} {cause!r}"
    reason = fields["reason"]
    if not isinstance(reason, str) or not reason.strip():
        raise Invalid(f"{where}: reason must say why the failure is accepted")
    expires = _date(fields["expires"])
    if expires is None:
        raise Invalid(f"{where}: expires {fields['expires']!r} is not a date YYYY-MM-DD")
    texts = {}
    for name in _ENTRY_FIELDS:
        value = fields.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise Invalid(f"{where}: {name} must be a non-empty text")
        texts[name] = value
    return Entry(cause, reason.strip(), expires, **texts)


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return None  # a time of day is not what `expires` means
    if isinstance(value, dt.date):
        return value
    return parse_date(value) if isinstance(value, str) else None


def load_previous(path: str | Path) -> Previous:
    """Read an earlier run's summary.json (`--previous`); a mistake is one `ConfigError`."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--previous {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--previous {path}: cannot be read ({type(exc).__name__})") from None
    except ValueError as exc:
        raise ConfigError(f"--previous {path}: not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") not in SUMMARY_FORMATS:
        raise ConfigError(
            f"--previous {path}: not a summary.json of dcs-conformance "
            f"({' or '.join(SUMMARY_FORMATS)})"
        )
    groups = document.get("groups")
    if not isinstance(groups, list) or not all(
        isinstance(group, dict) and isinstance(group.get("id"), str) for group in groups
    ):
        raise ConfigError(f"--previous {path}: its groups are not as the suite writes them")
    exit_status = (document.get("exit") or {}).get("status")
    causes = {
        group["id"]: {
            "severity": (group.get("severity") or {}).get("category"),
            "primary": (group.get("primary") or {}).get("check"),
        }
        for group in groups
    }
    finished = document.get("finished")
    return Previous(
        str(path),
        finished if isinstance(finished, str) else None,
        exit_status if isinstance(exit_status, int) else None,
        causes,
    )


def check_baseline_target(path: Path, *, source_given: bool) -> Baseline | None:
    """Where `--write-baseline` will write: its directory must be writable, and a file already
    there must be a baseline (never overwrite another file). Returns that baseline, whose
    reasons and expiries the new one keeps (unless `--baseline` is the source)."""
    option = "--write-baseline"
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory")
    old = None
    if path.exists() and not source_given:
        try:
            old = parse_baseline(read_yaml(path), str(path))
        except Invalid as exc:
            raise ConfigError(
                f"{option} {path}: exists and is not a baseline ({exc}): not overwritten"
            ) from None
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    if not parent.is_dir() or not _writable(parent):
        raise ConfigError(f"{option} {path}: cannot write there")
    return old


def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK | os.X_OK)


def write_baseline(path: Path, text: str) -> None:
    """Write the new baseline (whole, or not at all: a temporary file renamed over it)."""
    temporary = path.with_name(f".{path.name}.dcs-tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
