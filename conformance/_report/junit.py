"""Marks on the JUnit XML that pytest writes: a failing test's root causes as the run finally
judged them (known, new or expired against the baseline; reproduced or intermittent once
re-sent; new or still failing since the previous run), put where CI tools show a failure:
the first lines of its `message` attribute and of its text.

pytest writes junit.xml when the session finishes; the root causes are confirmed just before,
but their marks are only known once every test has reported, so the file is rewritten after.
A test whose every root cause is known is already a `skipped` (pytest's xfail) testcase,
whose message names the baseline's reasons.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

_JUDGED = ("failure", "error", "skipped")


def junit_address(nodeid: str, prefix: str | None = None) -> tuple[str, str]:
    """The (classname, name) pytest's JUnit writer gives a test id: the file's path dotted
    without `.py`, the classes after it; the function and its parameters as the name."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = names[0].replace("/", ".").removesuffix(".py")
    names[-1] += bracket + params
    if prefix:
        names.insert(0, prefix)
    return ".".join(names[:-1]), names[-1]


def mark_junit(
    path: Path,
    marks: Mapping[str, Sequence[str]],
    *,
    prefix: str | None = None,
    warnings: Sequence[str] = (),
) -> int:
    """Put each test's lines (`marks`, by test id) at the top of its testcase's failure (or
    error, or xfail's skipped) message and text, and each line of `warnings` as a
    `dcs_warning` property of the first test suite (they fail no testcase); the number of
    testcases marked."""
    by_address = {junit_address(nodeid, prefix): lines for nodeid, lines in marks.items()}
    tree = ET.parse(path)
    marked = 0
    for testcase in tree.getroot().iter("testcase"):
        lines = by_address.get((testcase.get("classname", ""), testcase.get("name", "")))
        judged = [child for child in testcase if child.tag in _JUDGED]
        if not lines or not judged:
            continue
        head = "\n".join(lines)
        for child in judged:
            message = child.get("message") or ""
            child.set("message", f"{head}\n{message}" if message else head)
            child.text = f"{head}\n\n{child.text}" if child.text else head
        marked += 1
    suite = next(iter(tree.getroot().iter("testsuite")), None)
    if suite is not None and warnings:
        properties = suite.find("properties")
        if properties is None:
            properties = ET.Element("properties")
            suite.insert(0, properties)
        for line in warnings:
            ET.SubElement(properties, "property", name="dcs_warning", value=line)
    if marked or (suite is not None and warnings):
        tree.write(path, encoding="utf-8", xml_declaration=True)
    return marked
