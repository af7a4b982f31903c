"""Issue 17 end to end, as a user does: the suite against the mock with five faults of
different families, its root causes in summary.json, then `python -m conformance.replay` on
the failures.har it wrote, against the same broken mock (exit 1) and a correct one (exit 0)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conformance.mock import create_app, faulty_app, load_fixtures, serve
from tests._support import REPO, output, run_suite

FAULTS = ["usage_counter_float", "error_code_lowercase", "bearer_prefix_kept",
          "plan_slug_empty", "auth_errors_retryable"]  # fmt: skip
#: The tests that show each of the five faults (the whole suite takes minutes).
SELECTED = (
    "test_auth or malformed_authorization_refused or malformed_period_rejected or other_scheme"
)


def replay(har, base_url, key):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DCS_")}
    return subprocess.run(
        [sys.executable, "-m", "conformance.replay", str(har), "--base-url", base_url,
         "--api-key", key],
        capture_output=True, text=True, timeout=120, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.slow
def test_five_faults_are_six_root_causes_the_lock_out_first_and_replay_says_fixed(tmp_path):
    fixtures = load_fixtures()
    key, org = fixtures.suite_credentials
    with serve(faulty_app(fixtures, FAULTS), host="127.0.0.1", port=0) as broken:
        result = run_suite(
            "--base-url", broken.base_url, "--api-key", key, "--org-id", org,
            "--max-examples", "3", "--reports-dir", str(tmp_path), "-k", SELECTED,
        )  # fmt: skip
        assert result.returncode == 1, output(result)[-3000:]
        summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
        causes = [(c["rank"], c["severity"]["category"], c["id"]) for c in summary["groups"]]
        assert causes == [
            (1, "access control and tenancy", "valid key answered 401"),
            (2, "access control and tenancy", "a wrong or malformed key answered 200"),
            (3, "wrong figures", "$.billed_cpu_millicore_seconds float"),
            (4, "wrong figures", "$.plan_slug empty string"),
            (5, "wire and schema", "$.retryable true"),
            (6, "wording", "$.error_code not UPPER_SNAKE_CASE"),
        ], causes
        bearer = summary["groups"][0]
        assert bearer["primary"]["check"] == "valid_key_accepted"
        assert bearer["credentials"] == ["bearer"]
        assert {"valid_key_accepted", "equivalent_requests_same_answer"} <= set(bearer["checks"])
        assert summary["groups"][5]["statuses"] == [400, 401, 403]
        assert all("masked" not in check["outcome"] for check in summary["checks"].values())
        assert "failures, 6 root causes, most serious first" in result.stdout
        har = tmp_path / "failures.har"
        assert key not in har.read_text(encoding="utf-8")

        still = replay(har, broken.base_url, key)
    assert still.returncode == 1, output(still)
    assert still.stdout.splitlines()[-1] == (
        "dcs-conformance replay: 6 still failing, 0 fixed (exit 1)"
    )
    assert "1. [access control and tenancy] valid key answered 401: still failing" in still.stdout

    with serve(create_app(fixtures), host="127.0.0.1", port=0) as correct:
        fixed = replay(har, correct.base_url, key)
    assert fixed.returncode == 0, output(fixed)
    assert fixed.stdout.splitlines()[-1] == (
        "dcs-conformance replay: 0 still failing, 6 fixed (exit 0)"
    )
    assert key not in output(still) + output(fixed)


@pytest.mark.parametrize(
    "fault, selected",
    [("http10_legacy_backend", "http_1_0"), ("own_org_header_zeroed", "own_org_padded")],
)
def test_a_root_cause_on_the_raw_wire_is_confirmed_and_replayed_as_sent(fault, selected, tmp_path):
    """Requests the suite wrote byte for byte (HTTP/1.0; an org header with whitespace around
    it, which the pooled client refuses to write) are sent again so: the fault is reproduced
    and still failing, not intermittent, fixed or not confirmed."""
    fixtures = load_fixtures()
    key, org = fixtures.suite_credentials
    with serve(faulty_app(fixtures, [fault]), host="127.0.0.1", port=0) as broken:
        result = run_suite(
            "--base-url", broken.base_url, "--api-key", key, "--org-id", org, "--confirm", "2",
            "--reports-dir", str(tmp_path), "-k", f"equivalent_requests_same_answer and {selected}",
        )  # fmt: skip
        assert result.returncode == 1, output(result)[-3000:]
        summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
        assert [g["reproduced"]["verdict"] for g in summary["groups"]] == ["reproduced"]
        replayed = replay(tmp_path / "failures.har", broken.base_url, key)
    assert replayed.returncode == 1, output(replayed)
    assert "1 still failing, 0 fixed (exit 1)" in replayed.stdout
