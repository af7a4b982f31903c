"""The note table covers every note class of the installed httplint, each with a verdict and a
reason, and a violation only where the origin server breaks a MUST on its own."""

from __future__ import annotations

from conformance._contract import lint_notes, readings
from conformance.checks.lint import note_classes


def test_the_table_names_every_note_class_of_the_installed_httplint():
    installed = set(note_classes())
    assert len(installed) > 300  # the whole release, not a module of it
    assert installed - set(readings.LINT_NOTES) == set(), "review the new notes of httplint"
    assert set(readings.LINT_NOTES) - installed == set(), "notes httplint no longer has"


def test_every_row_has_a_verdict_and_a_reason():
    for name, (verdict, reason) in readings.LINT_NOTES.items():
        assert verdict in (lint_notes.VIOLATION, lint_notes.WARNING, lint_notes.OFF), name
        assert reason.strip() and "\n" not in reason, name


def test_violations_each_name_the_rfc_they_rest_on():
    violations = {n: r for n, (v, r) in readings.LINT_NOTES.items() if v == lint_notes.VIOLATION}
    assert {"DATE_OBSOLETE", "LM_FUTURE", "BAD_DATE_SYNTAX"} <= set(violations)
    assert all(reason.startswith("RFC ") for reason in violations.values())


def test_what_httplint_approves_or_only_describes_is_off():
    classes = note_classes()
    for name, note in classes.items():
        if note.level.value in ("good", "info"):
            assert readings.lint_verdict(name) == lint_notes.OFF, name


def test_a_note_the_table_does_not_know_is_a_warning():
    assert readings.lint_verdict("A_NOTE_OF_A_LATER_RELEASE") == lint_notes.WARNING
