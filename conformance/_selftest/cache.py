"""Hypothesis's Unicode tables, built once per matrix and copied into each run's fresh working
directory (built cold they cost each run ~3 s and ~200 MiB).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

from conformance._selftest.plan import SUITE, clean_env


def warm_hypothesis_cache(where: Path, timeout: float) -> Path | None:
    """Hypothesis's Unicode tables, built once by collecting the suite in ``where``.

    Built cold in every fresh working directory they cost each run ~3 s and ~200 MiB.
    Returns the ``unicode_data`` directory to seed runs with (None if it was not built).
    """
    command = [sys.executable, "-m", "pytest", str(SUITE), "--co", "-q", "-p", "no:cacheprovider"]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [*command, "--no-reports"],
            cwd=where,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
        )
    found = where / ".hypothesis" / "unicode_data"
    return found if found.is_dir() else None


def seed_hypothesis_cache(work: Path, unicode_data: Path | None) -> None:
    """Give ``work`` a copy of the Unicode tables (only those: examples stay per run)."""
    if unicode_data is not None:
        shutil.copytree(unicode_data, work / ".hypothesis" / "unicode_data")
