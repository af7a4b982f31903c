"""How a run's root causes stand against what was known before it: a baseline of known
failures (`--baseline`), the previous run's summary (`--previous`), and whether each root
cause came back when its first failing exchanges were sent again (`--confirm`).

A root cause is matched by its `id` (`causes.cause_key`, summary.json's `groups[].id`), the
same stable string in every run. Against a baseline it is `known` (an entry that has not
expired: it does not fail the run), `expired` (its entry's `expires` date is past) or `new`
(no entry); entries no root cause matched are `not seen`. Against the previous run it is `new`
or `still failing`, and the previous run's root causes it no longer has are `fixed`. Confirmed,
it is `reproduced` (it failed every try), `intermittent` (not every try) or `not confirmed`
(why: its requests carried a key the test had changed, the budget was used up, ...).

Pure: the baseline and the previous summary are read and validated by `_run/history.py`;
here they are data, and the new baseline file is text (`render_baseline`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance._report.causes import one_line

BASELINE_FORMAT = "dcs-conformance/baseline/1"
KNOWN, NEW, EXPIRED = "known", "new", "expired"
STILL_FAILING = "still failing"
REPRODUCED, INTERMITTENT, NOT_CONFIRMED = "reproduced", "intermittent", "not confirmed"
#: The reason `--write-baseline` gives a new entry: a person fills it in.
TODO_REASON = "TODO: say why this failure is accepted for now, and who fixes it by when"
#: Days until a new entry of a written baseline expires.
EXPIRY_DAYS = 30


@dataclass(frozen=True)
class Entry:
    """A known failure: a root cause's id, why it is accepted, until when, and where it is
    tracked. `check` and `symptom` are for people reading the file; they are not matched."""

    id: str
    reason: str
    expires: dt.date
    issue: str | None = None
    check: str | None = None
    symptom: str | None = None

    def standing(self, today: dt.date) -> str:
        """`known` through its `expires` date, `expired` after it."""
        return KNOWN if today <= self.expires else EXPIRED

    @property
    def todo(self) -> bool:
        """Its reason is still the one `--write-baseline` put there."""
        return self.reason.startswith("TODO")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reason": self.reason,
            "expires": self.expires.isoformat(),
            "issue": self.issue,
        }


@dataclass(frozen=True)
class Baseline:
    """A file of known failures, one entry per root cause id."""

    path: str
    entries: tuple[Entry, ...] = ()

    def entry(self, cause_id: str) -> Entry | None:
        return next((entry for entry in self.entries if entry.id == cause_id), None)

    def standing(self, cause_id: str, today: dt.date) -> tuple[str, Entry | None]:
        """`known`, `expired` or `new`, and the entry matched (None: new)."""
        entry = self.entry(cause_id)
        return (NEW, None) if entry is None else (entry.standing(today), entry)


@dataclass(frozen=True)
class Previous:
    """The root causes of an earlier run, from its summary.json."""

    path: str
    finished: str | None
    exit_status: int | None
    #: Per root cause id: its severity category and primary symptom, as that run saw them.
    causes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def verdict(self) -> bool:
        """Whether that run judged the target (exit 0 or 1), so that its root causes say
        something (an unavailable target's run found none)."""
        return self.exit_status in (0, 1)


def known_reason(standings: Mapping[str, tuple[str, Entry | None]]) -> str | None:
    """The text that marks a test whose every root cause is known (a pytest xfail reason),
    or None when one of them is new or expired (the test fails the run)."""
    if not standings or any(status != KNOWN for status, _ in standings.values()):
        return None
    parts = []
    for cause_id, (_, entry) in standings.items():
        assert entry is not None
        parts.append(f"{cause_id} (until {entry.expires.isoformat()}: {entry_text(entry)})")
    return "known failure (baseline): " + "; ".join(parts)


def standing_lines(
    standings: Mapping[str, tuple[str, Entry | None]], baseline: Baseline
) -> list[str]:
    """The lines added to a failing test's text for its root causes that fail the run."""
    lines = []
    for cause_id, (status, entry) in standings.items():
        if status == NEW:
            lines.append(f"  baseline:  new root cause `{cause_id}` (not in {baseline.path})")
        elif status == EXPIRED and entry is not None:
            lines.append(
                f"  baseline:  `{cause_id}` was known until {entry.expires.isoformat()} "
                f"(expired): {entry_text(entry)}"
            )
    return lines


def entry_text(entry: Entry) -> str:
    return one_line(entry.reason, 120) + (f" ({entry.issue})" if entry.issue else "")


def confirmation(tries: int, failed: int, why: str = "") -> dict[str, Any]:
    """A root cause's `reproduced` record: re-sent `tries` times, `failed` of them; `why` it
    could not be (fully) confirmed."""
    verdict = REPRODUCED if failed == tries else INTERMITTENT
    verdict = verdict if tries else NOT_CONFIRMED
    record: dict[str, Any] = {"tries": tries, "failed": failed, "verdict": verdict}
    if why:
        record["why"] = why
    return record


def triage(
    groups: Sequence[dict[str, Any]],
    *,
    baseline: Baseline | None = None,
    today: dt.date | None = None,
    previous: Previous | None = None,
    confirmed: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Mark each root cause (in place): `baseline` (`status` known, new or expired, and the
    entry's `reason`, `expires`, `issue`), `since_previous` (new or still failing) and
    `reproduced` (`tries`, `failed`, `verdict`, `why`), each None when not asked. Returns the
    summary's `baseline` and `previous` objects (None when not asked)."""
    today = today or dt.datetime.now(dt.UTC).date()
    for group in groups:
        group["baseline"] = None
        if baseline is not None:
            status, entry = baseline.standing(group["id"], today)
            group["baseline"] = {"status": status, **(entry.as_dict() if entry else {})}
            group["baseline"].pop("id", None)
        group["since_previous"] = None
        if previous is not None:
            group["since_previous"] = STILL_FAILING if group["id"] in previous.causes else NEW
        group["reproduced"] = None if confirmed is None else confirmed.get(group["id"])
    return {
        "baseline": None if baseline is None else _baseline_object(groups, baseline, today),
        "previous": None if previous is None else _previous_object(groups, previous),
    }


def _baseline_object(
    groups: Sequence[Mapping[str, Any]], baseline: Baseline, today: dt.date
) -> dict[str, Any]:
    seen = {group["id"] for group in groups}
    found: dict[str, list[dict[str, Any]]] = {KNOWN: [], NEW: [], EXPIRED: []}
    for group in groups:
        status, entry = baseline.standing(group["id"], today)
        record = entry.as_dict() if entry else {"id": group["id"]}
        found[status].append({**record, "rank": group["rank"], "tests": group["tests"]})
    return {
        "file": baseline.path,
        "known": found[KNOWN],
        "new": found[NEW],
        "expired": found[EXPIRED],
        "not_seen": [entry.as_dict() for entry in baseline.entries if entry.id not in seen],
        "todo": [entry.id for entry in baseline.entries if entry.todo and entry.id in seen],
    }


def _previous_object(groups: Sequence[Mapping[str, Any]], previous: Previous) -> dict[str, Any]:
    seen = [group["id"] for group in groups]
    return {
        "file": previous.path,
        "finished": previous.finished,
        "exit_status": previous.exit_status,
        "new": [cause_id for cause_id in seen if cause_id not in previous.causes],
        "still_failing": [cause_id for cause_id in seen if cause_id in previous.causes],
        "fixed": [
            {"id": cause_id, **cause}
            for cause_id, cause in previous.causes.items()
            if cause_id not in seen
        ],
    }


def tags(group: Mapping[str, Any]) -> list[str]:
    """Short words for a root cause's row: NEW, known or EXPIRED (the baseline), reproduced,
    intermittent or not confirmed, and new or still failing since the previous run."""
    found = []
    standing = (group.get("baseline") or {}).get("status")
    if standing is not None:
        found.append({NEW: "NEW", EXPIRED: "EXPIRED"}.get(standing, standing))
    reproduced = group.get("reproduced")
    if reproduced:
        verdict = reproduced["verdict"]
        counts = f" {reproduced['failed']}/{reproduced['tries']}" if reproduced["tries"] else ""
        found.append(f"{verdict}{counts}")
    since = group.get("since_previous")
    if since is not None:
        found.append("new since last run" if since == NEW else "still failing")
    return found


def notes(group: Mapping[str, Any]) -> list[str]:
    """A root cause's triage in words, a line each: its baseline entry, its confirmation and
    how it stands since the previous run (empty: none asked)."""
    lines = []
    baseline = group.get("baseline")
    if baseline is not None:
        status = baseline["status"]
        if status == NEW:
            lines.append("baseline: new (no entry): it fails the run")
        else:
            issue = f" ({baseline['issue']})" if baseline.get("issue") else ""
            until = (
                f"known until {baseline['expires']}"
                if status == KNOWN
                else f"expired (known until {baseline['expires']}), it fails the run again"
            )
            lines.append(f"baseline: {until}: {one_line(baseline['reason'], 100)}{issue}")
    reproduced = group.get("reproduced")
    if reproduced:
        lines.append(confirmation_text(reproduced))
    since = group.get("since_previous")
    if since is not None:
        lines.append(f"since the previous run: {since}")
    return lines


def confirmation_text(reproduced: Mapping[str, Any]) -> str:
    tries, failed, verdict = reproduced["tries"], reproduced["failed"], reproduced["verdict"]
    why = f" ({reproduced['why']})" if reproduced.get("why") else ""
    if verdict == NOT_CONFIRMED:
        return f"not confirmed{why}"
    what = "every time" if verdict == REPRODUCED else "not every time"
    return (
        f"{verdict}: failed {failed} of {tries} re-send{'s' if tries != 1 else ''} of its first "
        f"failing exchanges ({what}){why}"
    )


def junit_marks(groups: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Per test id, a line per root cause of it with something to say (`notes`): what marks its
    JUnit testcase, where CI tools show a failure's message."""
    marks: dict[str, list[str]] = {}
    for group in groups:
        said = notes(group)
        if not said:
            continue
        line = f"[{', '.join(tags(group))}] root cause `{group['id']}`: " + "; ".join(said)
        for test in group["test_ids"]:
            marks.setdefault(test, []).append(line)
    return marks


def render_baseline(
    groups: Sequence[Mapping[str, Any]],
    old: Baseline | None,
    today: dt.date,
    about: str,
) -> str:
    """A baseline of the run's root causes (YAML): the reason, expiry and issue of each that
    `old` had, a reason to fill in and a `EXPIRY_DAYS` expiry for each new one. `about`: the
    run it comes from, for the file's comment."""
    expires = today + dt.timedelta(days=EXPIRY_DAYS)
    lines = [
        "# Known failures for dcs-conformance (--baseline FILE): a root cause whose `id` is here",
        "# does not fail the run until its `expires` date (inclusive, UTC). `id` is matched",
        "# exactly (summary.json's groups[].id); `check` and `symptom` are for people. Keep it",
        "# short: give each entry a reason and an issue, and remove it once it is fixed (a run",
        "# lists such entries as no longer seen).",
        f"# Written from {about} on {today.isoformat()}.",
        f"format: {BASELINE_FORMAT}",
        "known:" if groups else "known: []",
    ]
    for group in groups:
        entry = old.entry(group["id"]) if old is not None else None
        primary = group.get("primary") or {}
        lines += [
            f"  - id: {_scalar(group['id'])}",
            f"    reason: {_scalar(entry.reason if entry else TODO_REASON)}",
            f"    expires: {(entry.expires if entry else expires).isoformat()}",
        ]
        if entry is not None and entry.issue:
            lines.append(f"    issue: {_scalar(entry.issue)}")
        if primary.get("check"):
            lines.append(f"    check: {_scalar(str(primary['check']))}")
        if primary.get("message"):
            lines.append(f"    symptom: {_scalar(one_line(str(primary['message']), 160))}")
    return "\n".join(lines) + "\n"


def _scalar(text: str) -> str:
    """A YAML double-quoted scalar (a JSON string is one)."""
    return json.dumps(text, ensure_ascii=False)
