"""The project's own tests: every test under tests/e2e/ is end to end (marker `e2e`); elsewhere
a test that starts a subprocess carries the marker itself (`tests/test_architecture.py` holds
that)."""

from __future__ import annotations

from pathlib import Path

import pytest

E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)
