"""pytest plugin loaded by the benchmark (``-p _observe``): the embedded mock's request count.

Each process that serves the embedded mock writes its server-side request count to a file in
``$BENCH_COUNTS_DIR`` when the mock stops. It only observes: nothing the suite does changes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    out = os.environ.get("BENCH_COUNTS_DIR")
    if not out:
        return
    import conformance.mock as mock

    original = mock.serve

    @contextlib.contextmanager
    def counting_serve(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with original(*args, **kwargs) as server:
            try:
                yield server
            finally:
                name = f"{os.getpid()}-{server.port}"
                Path(out, name).write_text(str(server.request_count), encoding="ascii")

    mock.serve = counting_serve


def read_counts(directory: Path) -> int | None:
    """The requests the embedded mocks of one run answered (None: no mock reported)."""
    files = list(directory.iterdir())
    return sum(int(f.read_text(encoding="ascii")) for f in files) if files else None
