"""The mutable per-app state of the mock, kept on ``app.state.mock``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from conformance.mock._ledger import Ledger
from conformance.mock._model import Fixtures
from conformance.mock._steps import Pipeline

Clock = Callable[[], datetime]


@dataclass(eq=False)
class MockState:
    """What a request needs: fixtures, ledger, clock, switches and the step pipeline.

    Tests may flip ``ledger_unavailable``, swap ``clock`` or replace ``pipeline`` (e.g.
    ``dataclasses.replace(state.pipeline, parse_period=...)``) while the app is serving.
    """

    fixtures: Fixtures
    clock: Clock
    pipeline: Pipeline
    ledger_unavailable: bool = False
    ledger: Ledger = field(init=False)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.fixtures)
