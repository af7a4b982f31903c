"""The CI workflows: actionlint finds nothing, the key facts hold, the run steps map exit codes."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance._selftest.edges import EDGES
from tests._support import REPO

WORKFLOWS = REPO / ".github" / "workflows"
NIGHTLY = WORKFLOWS / "nightly.yml"
GATE = WORKFLOWS / "release-gate.yml"


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def conformance_job(doc: dict[str, Any]) -> dict[str, Any]:
    """The workflow's job that runs the suite against the deployment."""
    return dict(doc["jobs"]["conformance"])


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(conformance_job(doc)["steps"])


def step(doc: dict[str, Any], *, uses: str = "", runs: str = "") -> dict[str, Any]:
    found = [
        s
        for s in steps(doc)
        if (uses and s.get("uses", "").startswith(uses)) or (runs and runs in s.get("run", ""))
    ]
    assert len(found) == 1, f"expected one step using {uses!r} / running {runs!r}"
    return found[0]


def actionlint() -> str | None:
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.is_file() else shutil.which("actionlint")


@pytest.mark.e2e
def test_actionlint_finds_nothing():
    binary = actionlint()
    if binary is None:
        message = "actionlint is not installed (it is in the dev extra: pip install -e '.[dev]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(
        [binary, "-no-color", str(NIGHTLY), str(GATE)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", [NIGHTLY, GATE], ids=lambda p: p.name)
def test_common_steps(path):
    doc = load(path)
    # the nightly also reads the previous night's reports artifact
    assert doc["permissions"] == {"contents": "read", **({"actions": "read"} if path == NIGHTLY
                                                         else {})}  # fmt: skip
    assert step(doc, uses="actions/setup-python@")["with"]["python-version"] == "3.11"
    step(doc, uses="actions/checkout@")
    step(doc, runs="pip install -e '.[dev]'")
    run = step(doc, runs="pytest conformance")
    assert 'pytest conformance --base-url "$DCS_BASE_URL" --profile "$PROFILE"' in run["run"]
    summary = step(doc, runs="GITHUB_STEP_SUMMARY")
    assert summary["if"] == "always()"
    assert 'cat reports/summary.md >> "$GITHUB_STEP_SUMMARY"' in summary["run"]
    upload = step(doc, uses="actions/upload-artifact@")
    assert upload["if"] == "always()" and upload["with"]["path"] == "reports/"
    names = [s.get("uses", s.get("run", "")) for s in steps(doc)]
    assert names.index(run["run"]) < names.index(summary["run"]) < names.index(upload["uses"])


def test_nightly_facts():
    doc = load(NIGHTLY)
    assert doc["on"]["schedule"][0]["cron"] and "workflow_dispatch" in doc["on"]
    assert doc["on"]["workflow_dispatch"]["inputs"]["profile"]["default"] == "nightly"
    job = conformance_job(doc)
    assert job["env"]["DCS_BASE_URL"] == "${{ secrets.DCS_BASE_URL }}"
    assert job["env"]["DCS_API_KEY"] == "${{ secrets.DCS_API_KEY }}"
    assert job["env"]["DCS_ORG_ID"] == "${{ secrets.DCS_ORG_ID }}"
    assert job["env"]["PROFILE"] == "${{ inputs.profile || 'nightly' }}"


def test_the_nightly_runs_the_kill_matrix_behind_each_proxy():
    jobs = load(NIGHTLY)["jobs"]
    assert set(jobs) == {"conformance", "edge-kill-matrices"}
    job = jobs["edge-kill-matrices"]
    assert job["strategy"]["matrix"]["edge"] == list(EDGES)
    assert "env" not in job  # no secret: the mock on loopback, never staging
    install = next(s["run"] for s in job["steps"] if "apt-get install" in s.get("run", ""))
    for edge in EDGES.values():
        assert f" {edge.package}" in install
    assert "policy-rc.d" in install  # the packages' services are not started
    run = next(s["run"] for s in job["steps"] if "conformance.selftest" in s.get("run", ""))
    assert '--edge "${{ matrix.edge }}"' in run and "--faults" not in run  # every fault
    assert load(GATE)["jobs"].keys() == {"conformance"}


def test_ci_installs_the_proxies_before_the_tests_that_run_behind_them():
    """tests/e2e/test_edges.py (the tests step) runs a fault family behind each proxy."""
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    install = script.index("apt-get install")
    assert install < script.index("step tests ")
    for edge in EDGES.values():
        assert f" {edge.package}" in script[install : script.index("\n", install)]


def test_release_gate_facts():
    doc = load(GATE)
    call = doc["on"]["workflow_call"]
    assert call["inputs"]["base-url"]["required"] is True
    assert call["inputs"]["profile"]["default"] == "gate"
    assert call["secrets"]["api-key"]["required"] is True and "org-id" in call["secrets"]
    assert call["outputs"]["status"]["value"] == "${{ jobs.conformance.outputs.status }}"
    job = conformance_job(doc)
    assert job["env"]["DCS_API_KEY"] == "${{ secrets.api-key }}"
    assert job["env"]["DCS_ORG_ID"] == "${{ secrets.org-id }}"
    assert job["env"]["DCS_BASE_URL"] == "${{ inputs.base-url }}"


def run_step(path: Path, tmp_path: Path, pytest_exit: int, **env: str):
    """Run a workflow's suite step in bash as Actions does, with a fake `pytest` exiting so."""
    fake = tmp_path / "bin" / "pytest"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f'#!/bin/sh\necho "fake pytest $*"\nexit {pytest_exit}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    output = tmp_path / "output"
    output.write_text("")
    variables = {
        "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "DCS_BASE_URL": "http://127.0.0.1:9",
        "DCS_API_KEY": "k",
        "DCS_EMPTY_ORG_KEY": "e",
        "DCS_EXPECT": "canary.yaml",
        "PROFILE": "nightly",
        **env,
    }
    script = step(load(path), runs="pytest conformance")["run"]
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env=variables,
        stdin=subprocess.DEVNULL,
    )
    return result, output.read_text()


@pytest.mark.e2e
@pytest.mark.parametrize(
    "path, pytest_exit, step_exit, annotation",
    [
        (NIGHTLY, 0, 0, ""),
        (NIGHTLY, 1, 1, ""),
        (NIGHTLY, 75, 0, "::warning title=DCS staging unavailable::"),
        (GATE, 0, 0, ""),
        (GATE, 1, 1, ""),
        (GATE, 4, 4, ""),
        (GATE, 75, 75, "::error title=Release gate: target unavailable::"),
    ],
)
def test_run_step_exit_codes(tmp_path, path, pytest_exit, step_exit, annotation):
    result, output = run_step(path, tmp_path, pytest_exit)
    assert result.returncode == step_exit, result.stdout + result.stderr
    assert f"status={pytest_exit}" in output
    assert "fake pytest conformance --base-url http://127.0.0.1:9 --profile nightly" in (
        result.stdout
    )
    assert (annotation in result.stdout) if annotation else "::" not in result.stdout


GROUND_TRUTH = {
    "DCS_EMPTY_ORG_KEY": "EMPTY_ORG_KEY",
    "DCS_EMPTY_ORG_ID": "EMPTY_ORG_ID",
    "DCS_SECOND_API_KEY": "SECOND_API_KEY",
    "DCS_SECOND_ORG_ID": "SECOND_ORG_ID",
}


def test_ground_truth_is_passed_through():
    nightly = conformance_job(load(NIGHTLY))
    for variable, secret in GROUND_TRUTH.items():
        assert nightly["env"][variable] == f"${{{{ secrets.DCS_{secret} }}}}"
    assert nightly["env"]["DCS_EXPECT"] == "${{ inputs.expect || vars.DCS_EXPECT }}"
    assert load(NIGHTLY)["on"]["workflow_dispatch"]["inputs"]["expect"]["default"] == ""
    gate = load(GATE)
    job = conformance_job(gate)
    for variable, secret in GROUND_TRUTH.items():
        name = secret.lower().replace("_", "-")
        assert job["env"][variable] == f"${{{{ secrets.{name} }}}}"
        assert gate["on"]["workflow_call"]["secrets"][name]["required"] is False
    assert job["env"]["DCS_EXPECT"] == "${{ inputs.expect }}"


def test_baseline_and_identity_are_passed_through():
    """The suite reads them from DCS_* variables: the run step's command line stays as it is."""
    nightly = load(NIGHTLY)
    job = conformance_job(nightly)
    assert job["env"]["DCS_BASELINE"] == "${{ inputs.baseline || vars.DCS_BASELINE }}"
    assert job["env"]["DCS_IDENTITY_HEADERS"] == "${{ vars.DCS_IDENTITY_HEADERS }}"
    assert nightly["on"]["workflow_dispatch"]["inputs"]["baseline"]["default"] == ""
    gate = load(GATE)
    job = conformance_job(gate)
    inputs = gate["on"]["workflow_call"]["inputs"]
    assert job["env"]["DCS_BASELINE"] == "${{ inputs.baseline }}"
    assert job["env"]["DCS_IDENTITY_HEADERS"] == "${{ inputs.identity-headers }}"
    assert inputs["baseline"]["required"] is False and inputs["identity-headers"]["default"] == ""


FAKE_GH = """#!/bin/sh
# gh run list: the runs listed in $FAKE_RUNS; gh run download ID ... --dir DIR: the summary
# of run ID ($FAKE_STATUS_<ID>: its exit status; none: no artifact)
case "$1 $2" in
  "run list") for id in $FAKE_RUNS; do echo "$id"; done ;;
  "run download")
    id="$3"; dir=""
    while [ $# -gt 0 ]; do [ "$1" = "--dir" ] && dir="$2"; shift; done
    eval status="\\$FAKE_STATUS_$id"
    [ -n "$status" ] || { echo "no artifact" >&2; exit 1; }
    mkdir -p "$dir" && echo "{\\"exit\\": {\\"status\\": $status}}" > "$dir/summary.json" ;;
esac
"""


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("runs", "statuses", "previous"),
    [
        ("", {}, None),  # the first night
        ("900 811 700", {"811": "1", "700": "0"}, "previous-night/811/summary.json"),
        ("900 811 700", {"811": "75", "700": "0"}, "previous-night/700/summary.json"),
        ("900 811", {}, None),  # artifacts expired
    ],
    ids=["first-night", "last-night", "skips-no-verdict", "expired"],
)
def test_the_nightly_passes_the_previous_night_s_summary(tmp_path, runs, statuses, previous):
    fake = tmp_path / "bin" / "gh"
    fake.parent.mkdir()
    fake.write_text(FAKE_GH)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    python = tmp_path / "bin" / "python"
    python.symlink_to(sys.executable)
    env_file = tmp_path / "env"
    env_file.write_text("")
    script = step(load(NIGHTLY), runs="gh run download")["run"]
    variables = {
        "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_ENV": str(env_file),
        "GITHUB_REPOSITORY": "owner/dcs-conformance",
        "GITHUB_REF_NAME": "main",
        "GITHUB_RUN_ID": "900",  # this run: never its own
        "FAKE_RUNS": runs,
        **{f"FAKE_STATUS_{run}": status for run, status in statuses.items()},
    }
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        capture_output=True, text=True, timeout=30, env=variables, cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    if previous is None:
        assert env_file.read_text() == ""
        assert "::notice title=No previous night::" in result.stdout
    else:
        assert env_file.read_text() == f"DCS_PREVIOUS={previous}\n"
        assert (tmp_path / previous).is_file() and "::" not in result.stdout


@pytest.mark.e2e
@pytest.mark.parametrize("path", [NIGHTLY, GATE], ids=lambda p: p.name)
@pytest.mark.parametrize(
    ("env", "skipped"),
    [
        ({"DCS_EXPECT": ""}, "the canary's figures (no expect file)"),
        ({"DCS_EMPTY_ORG_KEY": "", "DCS_SECOND_API_KEY": "s"}, "the empty org (no "),
        (
            {"DCS_EXPECT": "", "DCS_EMPTY_ORG_KEY": ""},
            "the canary's figures (no expect file), the empty org (no ",
        ),
    ],
)
def test_missing_ground_truth_is_one_notice_line(tmp_path, path, env, skipped):
    result, _ = run_step(path, tmp_path, 0, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    notices = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert len(notices) == 1 and notices[0].startswith("::notice title=Ground truth skipped::")
    assert skipped in notices[0] and "fake pytest conformance" in result.stdout
    isolation = "two orgs' isolation" in notices[0]
    assert isolation == (env.get("DCS_EMPTY_ORG_KEY") == "" and "DCS_SECOND_API_KEY" not in env)


@pytest.mark.e2e
def test_nightly_refuses_to_run_without_its_secrets(tmp_path):
    result, _ = run_step(NIGHTLY, tmp_path, 0, DCS_BASE_URL="")
    assert result.returncode == 4 and "::error title=Secrets missing::" in result.stdout
    assert "fake pytest" not in result.stdout
