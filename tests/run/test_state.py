"""The run's state: the hypothesis profile each run registers from its settings; the final exit
status against a baseline of known failures, and the baseline written."""

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


# --- the final exit status against a baseline, and the baseline written -------------------------


def state_with(tmp_path, **changes):
    import datetime as dt

    from conformance._report.summary import Results
    from conformance._report.triage import Baseline, Entry
    from conformance._run.load import load_contract
    from conformance._run.state import PREFLIGHT, RunState
    from tests.report.findings import broken

    known = Baseline("b.yaml", (Entry("no complete response", "r", dt.date(2026, 2, 1)),))
    state = RunState(settings(**{"baseline": known, **changes}), load_contract(), 1)
    state.today = dt.date(2026, 1, 5)
    state.results = Results()
    answerless = broken("complete_response", "", statuses=(None,), message="no answer")
    state.results.record_violation(PREFLIGHT, answerless, [])
    return state


def test_a_known_failure_of_the_preflight_is_not_a_failing_run(tmp_path):
    state = state_with(tmp_path)
    assert state.finish(1) == 0 and state.exit_status == 0
    assert state.results.tests["preflight"].outcome == "known"
    assert state_with(tmp_path, baseline=None).finish(1) == 1  # no baseline: as it was


def test_the_baseline_is_written_only_from_a_run_with_a_verdict(tmp_path):
    path = tmp_path / "written.yaml"
    state = state_with(tmp_path, write_baseline=path)
    state.unavailable = ["gone"]
    assert state.finish(0) == 75 and not path.exists()  # unavailable: no verdict
    state = state_with(tmp_path, write_baseline=path)
    assert state.finish(3) == 3 and not path.exists()
    assert (
        state.baseline_written == f"baseline not written to {path}: the run has no verdict (exit 3)"
    )
    state = state_with(tmp_path, write_baseline=path, baseline_source=None)
    assert state.finish(1) == 0 and '- id: "no complete response"' in path.read_text()
    assert (
        state.baseline_written
        == f"baseline written to {path}: 1 root cause (1 new: fill in its reason and issue)"
    )


def test_every_log_record_and_every_text_written_is_masked(caplog):
    """What any library logs while the suite runs (an exception's text quoting a padded key
    included) shows no key; once stopped, records are as they were."""
    import logging

    from conformance._run.load import load_contract
    from conformance._run.state import RunState

    key = "dcs_live_0123456789abcdef"
    state = RunState(settings(api_key=key, base_url="http://127.0.0.1:9"), load_contract(), 1)
    assert state.mask(f"not confirmed (Illegal header value b'  {key} \\t')") == (
        "not confirmed (Illegal header value b'  *** \\t')"
    )
    stop = state.mask_logging()
    try:
        log = logging.getLogger("some.library")
        with caplog.at_level(logging.INFO):
            log.info("sent %r", f"  {key}\t")
            try:
                raise ValueError(f"refused {key}")
            except ValueError:
                log.exception("failed")
    finally:
        stop()
    assert key not in caplog.text and "sent '  ***\\t'" in caplog.text
    assert "ValueError: refused ***" in caplog.text
    log.warning("after %s", key)
    assert key in caplog.records[-1].getMessage()
