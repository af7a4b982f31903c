"""The run's state: the hypothesis profile each run registers from its settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import Phase
from hypothesis import settings as hypothesis_settings

from conformance._client.transport import Limits
from conformance._run.settings import PROFILES, Settings
from conformance._run.state import hypothesis_profile


def settings(**changes: object) -> Settings:
    values: dict = {
        "base_url": None,
        "api_key": None,
        "org_id": None,
        "other_org_id": "org_other",
        "spec": None,
        "profile": PROFILES["quick"],
        "limits": Limits(),
        "method_probes": True,
        "reports_dir": Path("reports"),
    }
    return Settings(**{**values, **changes})


@pytest.fixture(autouse=True)
def _keep_the_loaded_profile():
    before = hypothesis_settings.default
    yield
    hypothesis_settings.register_profile("dcs-test-restore", before)
    hypothesis_settings.load_profile("dcs-test-restore")


@pytest.mark.parametrize(("shrink", "shrinks"), [(True, True), (False, False)])
def test_no_shrink_leaves_out_the_shrink_phase(shrink, shrinks):
    hypothesis_profile(settings(shrink=shrink), chosen=None, seed=1, worker_seed=None)
    phases = hypothesis_settings.default.phases
    assert (Phase.shrink in phases) is shrinks
    assert Phase.generate in phases and Phase.explicit in phases


def test_a_derandomized_profile_has_no_seed_and_a_random_one_gets_one():
    assert hypothesis_profile(settings(profile=PROFILES["gate"]), chosen=None, seed=None,
                              worker_seed=None) is None  # fmt: skip
    assert isinstance(hypothesis_profile(settings(), chosen=None, seed=None, worker_seed=None), int)
