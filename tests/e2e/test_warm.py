"""The kill matrix's warm starter: each run a forked process of its own, in its own directory,
its output followed line by line; a run past its time is killed and the next one still runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance._selftest.runs import suite_env
from conformance._selftest.warm import MOCK_MAIN, Starter

TESTS = """
import time
from pathlib import Path

import hypothesis.configuration


def test_where():
    assert Path.cwd().name == "run"  # hypothesis keeps its files in the run's directory:
    home = getattr(hypothesis.configuration, "__hypothesis_home_directory")
    assert home == Path.cwd() / ".hypothesis"


def test_fails():
    assert False, "as planned"


def test_sleeps(request):
    if request.config.getoption("-k") == "sleeps":
        time.sleep(60)
"""


@pytest.fixture
def starter():
    started = Starter(suite_env())
    yield started
    started.close()


def a_run(tmp_path: Path, name: str) -> Path:
    run = tmp_path / name / "run"
    run.mkdir(parents=True)
    (run / "test_it.py").write_text(TESTS, encoding="utf-8")
    return run


def test_a_run_is_a_pytest_process_of_its_own_in_its_directory(starter, tmp_path):
    run = a_run(tmp_path, "first")
    seen: list[str] = []
    status, output = starter.run(
        ["-p", "no:cacheprovider", "-v", "-k", "not sleeps"], run, 60, seen.append
    )
    assert status == 1, output  # one test failed
    assert "test_it.py::test_where PASSED" in output and "as planned" in output
    assert "".join(seen) == output
    again, _ = starter.run(
        ["-p", "no:cacheprovider", "-k", "where"], a_run(tmp_path, "second"), 60, print
    )
    assert again == 0


def test_a_run_past_its_time_is_killed_and_the_next_one_runs(starter, tmp_path):
    status, _ = starter.run(
        ["-p", "no:cacheprovider", "-k", "sleeps"], a_run(tmp_path, "slow"), 2, print
    )
    assert status is None
    after, output = starter.run(
        ["-p", "no:cacheprovider", "-k", "where"], a_run(tmp_path, "after"), 60, print
    )
    assert after == 0, output


def test_a_run_gets_its_own_environment_and_standard_error(starter, tmp_path):
    run = a_run(tmp_path, "env")
    (run / "test_env.py").write_text(
        "import os, sys\n"
        "def test_env():\n"
        "    print('to stderr', file=sys.stderr)\n"
        "    assert os.environ.get('ONLY_HERE') == 'yes' and 'HOME_OF_HELPER' not in os.environ\n",
        encoding="utf-8",
    )
    err = tmp_path / "err"
    status, output = starter.run(
        ["-p", "no:cacheprovider", "-s", "test_env.py"], run, 60, print,
        err=err, env={"ONLY_HERE": "yes", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert status == 0, output
    assert "to stderr" in err.read_text() and "to stderr" not in output


def test_the_mock_started_warm_serves_and_stops_cleanly(tmp_path):
    import httpx

    from conformance._selftest.runs import mock_server
    from conformance._selftest.warm import Starters

    pair = Starters(suite_env())
    try:
        with mock_server(["usage_counter_negative"], tmp_path, 20, (), pair) as base_url:
            answer = httpx.get(f"{base_url}/v1/usage")
            assert answer.status_code == 401, answer.text
        bad = {"out": tmp_path / "bad.out", "err": tmp_path / "bad.err"}
        pid = pair.mock.start(["--port", "99999"], tmp_path, **bad, main=MOCK_MAIN)
        assert pid > 0 and pair.mock.ended(20) == 4  # a usage error, as `python -m` gives
        assert "--port must be 0..65535" in (tmp_path / "bad.err").read_text()
    finally:
        pair.close()
    with (
        pytest.raises(RuntimeError, match="did not start"),
        mock_server(["no_such_fault"], tmp_path, 20, (), Starters(suite_env())),
    ):
        pass
