"""``pytest conformance -n 2`` runs the same tests, with the same outcomes and checks, as serial.

Against the embedded mock (one per worker) and against a ``--base-url`` mock served here.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conformance.mock import create_app, load_fixtures, serve
from tests._support import output, run_suite

FAST = ("--max-examples=10", "--hypothesis-seed=1")


def outcomes(junit: Path) -> Counter[tuple[str, str]]:
    """(test id, outcome) of every test case in a JUnit XML file, counted."""
    found: Counter[tuple[str, str]] = Counter()
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        found[
            (f"{case.get('classname')}::{case.get('name')}", kinds[0] if kinds else "passed")
        ] += 1
    return found


def run(tmp_path: Path, name: str, *args: str) -> tuple[Counter[tuple[str, str]], dict]:
    reports = tmp_path / name
    result = run_suite(*FAST, f"--reports-dir={reports}", *args)
    assert result.returncode == 0, output(result)[-3000:]
    summary = json.loads((reports / "summary.json").read_text(encoding="utf-8"))
    return outcomes(reports / "junit.xml"), summary


@contextmanager
def target(kind: str) -> Iterator[tuple[str, ...]]:
    if kind == "embedded":
        yield ()
        return
    fixtures = load_fixtures()
    key, org = fixtures.suite_credentials
    with serve(create_app(fixtures)) as server:
        yield ("--base-url", server.base_url, "--api-key", key, "--org-id", org)


@pytest.mark.parametrize("kind", [pytest.param("embedded", marks=pytest.mark.hooks), "base-url"])
def test_two_workers_run_what_one_runs(tmp_path: Path, kind: str) -> None:
    with target(kind) as args:
        serial, serial_summary = run(tmp_path, "serial", *args)
        parallel, parallel_summary = run(tmp_path, "parallel", "-n", "2", *args)
    assert max(serial.values()) == 1 and max(parallel.values()) == 1, "a test ran twice"
    assert len(serial) >= 50
    assert parallel == serial
    assert parallel_summary["counts"] == serial_summary["counts"]
    checks = {name: c["outcome"] for name, c in serial_summary["checks"].items()}
    assert {name: c["outcome"] for name, c in parallel_summary["checks"].items()} == checks
    assert list(checks.values()).count("passed") >= 15, checks
