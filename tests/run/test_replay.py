"""The replay of a run's failures (conformance/_run/replay.py, conformance/replay.py): each
root cause of a failures.har re-sent to a mock in this process, broken and then correct, and
the operator's mistakes as one line and exit 4."""

from __future__ import annotations

import json

import pytest

from conformance import replay as cli
from conformance._client.raw import Raw
from conformance._client.transport import Transport
from conformance._core.exchange import Masker
from conformance._report.har import render_har
from conformance._run import replay
from conformance._run.load import load_contract
from conformance._run.session import read_only_guard
from conformance.mock import create_app, faulty_app, load_fixtures, serve
from tests._raw_server import raw_server, response
from tests.report.findings import five_fault_results, summarise

FAULTS = ["usage_counter_float", "error_code_lowercase", "bearer_prefix_kept",
          "plan_slug_empty", "auth_errors_retryable"]  # fmt: skip


@pytest.fixture(scope="module")
def fixtures():
    return load_fixtures()


@pytest.fixture
def har(tmp_path):
    path = tmp_path / "failures.har"
    path.write_text(render_har(summarise(five_fault_results())), encoding="utf-8")
    return path


def replayed(path, app, key):
    contract = load_contract()
    with serve(app, host="127.0.0.1", port=0) as server:
        transport = Transport(
            server.base_url,
            masker=Masker(names={"DCS_API_KEY": key}),
            guard=read_only_guard(contract),
        )
        try:
            return replay.replay(
                replay.read_failures(path), transport, contract, {"DCS_API_KEY": key}
            )
        finally:
            transport.close()


def test_the_broken_target_still_fails_each_root_cause(har, fixtures):
    key = fixtures.suite_credentials[0]
    outcomes = replayed(har, faulty_app(fixtures, FAULTS), key)
    assert [(o.cause.key, o.verdict) for o in outcomes] == [
        ("valid key answered 401", "still failing"),
        ("a wrong or malformed key answered 200", "still failing"),
        ("$.billed_cpu_millicore_seconds float", "still failing"),
        ("$.plan_slug empty string", "still failing"),
        ("$.retryable true", "still failing"),
        ("$.error_code not UPPER_SNAKE_CASE", "still failing"),
    ]
    assert outcomes[0].detail == "[valid_key_accepted] a valid request answered 401 auth_invalid"
    assert [e.request_headers for e in outcomes[0].exchanges] == [
        {"Authorization": f"Bearer {key}"}
    ]  # the real key, sent again
    assert outcomes[0].exchanges[0].url.startswith("http://127.0.0.1:")


def test_the_correct_target_fixes_every_root_cause(har, fixtures):
    outcomes = replayed(har, create_app(fixtures), fixtures.suite_credentials[0])
    assert [o.verdict for o in outcomes] == ["fixed"] * 6
    assert outcomes[0].detail == "answered GET 200"


def test_a_request_whose_key_the_test_had_changed_is_not_replayed(har, fixtures):
    log = json.loads(har.read_text())
    entry = log["log"]["entries"][0]
    entry["_dcs"]["template"]["headers"] = {"x-api-key": "***"}  # a near-miss key, masked
    har.write_text(json.dumps(log))
    outcomes = replayed(har, create_app(fixtures), fixtures.suite_credentials[0])
    assert outcomes[0].verdict == "not replayed" and outcomes[0].exchanges == []
    assert "rerun t::valid_bearer" in outcomes[0].detail


def test_a_request_the_client_cannot_write_is_not_replayed_and_why_names_no_key(har, fixtures):
    log = json.loads(har.read_text())
    entry = log["log"]["entries"][0]
    entry["_dcs"]["template"]["headers"] = {"x-api-key": "${DCS_API_KEY}\n"}  # not raw
    har.write_text(json.dumps(log))
    key = fixtures.suite_credentials[0]
    outcomes = replayed(har, create_app(fixtures), key)
    assert outcomes[0].verdict == "not replayed" and outcomes[0].exchanges == []
    assert key not in outcomes[0].detail and "***" in outcomes[0].detail, outcomes[0].detail


def test_what_the_file_needs_and_where_it_is_sent():
    assert replay._rebase("http://a:1/v1/usage?x=1", "http://a:1", "https://b/api") == (
        "https://b/api/v1/usage?x=1"
    )
    assert replay._rebase("http://a:1//v1/usage", None, "http://b:2") == "http://b:2//v1/usage"
    assert replay._fill("Bearer ${DCS_API_KEY}", {"DCS_API_KEY": "k1"}) == "Bearer k1"


def test_the_command_line_replays_and_never_prints_the_key(har, fixtures, capsys):
    key = fixtures.suite_credentials[0]
    with serve(faulty_app(fixtures, FAULTS), host="127.0.0.1", port=0) as server:
        status = cli.main([str(har), "--base-url", server.base_url, "--api-key", key])
    out = capsys.readouterr()
    assert status == 1, out
    lines = out.out.splitlines()
    assert lines[0].startswith("dcs-conformance replay: 6 root causes of ")
    assert (
        lines[1] == "dcs-conformance replay: note: the run read another spec (sha256 abababababab)"
    )
    assert lines[2] == (
        "  1. [access control and tenancy] valid key answered 401: still failing: "
        "[valid_key_accepted] a valid request answered 401 auth_invalid"
    )
    assert lines[-1] == "dcs-conformance replay: 6 still failing, 0 fixed (exit 1)"
    assert key not in out.out + out.err
    with serve(create_app(fixtures), host="127.0.0.1", port=0) as server:
        status = cli.main([str(har), "--base-url", server.base_url, "--api-key", key])
    out = capsys.readouterr()
    assert status == 0 and out.out.splitlines()[-1].endswith("0 still failing, 6 fixed (exit 0)")


KEYED = ("{har}", "--api-key", "k")


@pytest.mark.parametrize(
    "args, message",
    [
        (["no/such.har"], "no/such.har: cannot be read"),
        (["{har}", "--base-url", "ftp://x"], "--base-url 'ftp://x' is not an http(s) URL"),
        (["{har}"], "--api-key (or DCS_API_KEY) is needed"),
        (["{har}", "--api-key", "k\u00e9y"], "--api-key (or DCS_API_KEY): not usable in an HTTP"),
        (
            ["{har}", "--api-key", "k", "--spec", "no/spec.yaml"],
            "spec no/spec.yaml: cannot be read",
        ),
        (
            ["{har}", "--api-key", "k", "--expect", "no/e.yaml"],
            "--expect no/e.yaml: file not found",
        ),
        (["{plain}", "--api-key", "k"], "not a failures.har of dcs-conformance"),
        (["{text}"], "not JSON"),
    ],
)
def test_an_operator_mistake_is_one_line_and_exit_4(
    har, tmp_path, capsys, monkeypatch, args, message
):
    for name in ("DCS_API_KEY", "DCS_BASE_URL", "DCS_SPEC", "DCS_EXPECT"):
        monkeypatch.delenv(name, raising=False)
    plain = tmp_path / "plain.har"
    plain.write_text(json.dumps({"log": {"version": "1.2", "entries": []}}))
    text = tmp_path / "text.har"
    text.write_text("GET /\n")
    paths = {"har": har, "plain": plain, "text": text}
    assert cli.main([arg.format(**paths) for arg in args]) == 4
    out = capsys.readouterr()
    assert message in out.err and len(out.err.strip().splitlines()) == 1, out.err
    assert out.out == "" and "Traceback" not in out.err


def test_a_target_that_answers_nothing_is_exit_75(har, capsys):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    status = cli.main([str(har), "--base-url", f"http://127.0.0.1:{port}", "--api-key", "k" * 12,
                       "--request-deadline", "2"])  # fmt: skip
    assert status == 75
    assert "target unavailable" in capsys.readouterr().err


def sequence_har(tmp_path):
    """A failures.har whose one root cause was found by a check comparing a sequence of
    answers: valid, missing and wrong keys in turn on one connection."""
    from tests.report.findings import broken, call, evidence

    url = "http://127.0.0.1:9/v1/usage?period_start=2025-01-01"
    wrong = evidence(401, sent=("x-api-key", "other value"), url=url)
    wrong["request"]["headers"] = {"x-api-key": "***"}
    wrong["request"]["template"] = {"url": url, "headers": {"x-api-key": "dcs_wrong_key_000"}}
    exchanges = [
        evidence(401, sent=("bearer", "valid key"), url=url),
        evidence(401, sent=("none", "none"), url=url),
        wrong,
    ]
    finding = broken(
        "no_credential_carry_over", "401 auth_invalid", location="status", expected="200",
        exchanges=exchanges, subject=0,
        message="request 1 (valid key, after nothing) answered 401 auth_invalid",
        arguments=[["valid", "missing", "wrong"], [{"$exchange": i} for i in range(3)]],
    )  # fmt: skip
    results = reports_results([call("t::carry_over", violation=finding, checks=["x"])])
    path = tmp_path / "sequence.har"
    path.write_text(render_har(summarise(results)), encoding="utf-8")
    return path


def reports_results(records):
    from conformance._report.summary import Results

    results = Results()
    for record in records:
        results.record(record)
    return results


def test_a_sequence_is_sent_again_in_order_and_its_check_compares_the_new_answers(
    tmp_path, fixtures
):
    har = sequence_har(tmp_path)
    key = fixtures.suite_credentials[0]
    [still] = replayed(har, faulty_app(fixtures, ["bearer_prefix_kept"]), key)
    assert still.cause.key == "valid key answered 401" and still.verdict == "still failing"
    assert [e.request_headers for e in still.exchanges] == [
        {"Authorization": f"Bearer {key}"}, {}, {"x-api-key": "dcs_wrong_key_000"}
    ]  # fmt: skip
    assert [e.status for e in still.exchanges] == [401, 401, 401]
    [fixed] = replayed(har, create_app(fixtures), key)
    assert fixed.verdict == "fixed" and [e.status for e in fixed.exchanges] == [200, 401, 401]


@pytest.mark.parametrize("raw", [Raw(), Raw("1.0", absolute_form=True)], ids=["padded", "1.0"])
def test_a_request_written_byte_for_byte_is_written_again_so(raw, tmp_path):
    """A request the raw client wrote (a padded key and org header, HTTP/1.0 in absolute-form)
    is kept in failures.har masked, as a template, and the replay writes the very same bytes
    with the real key through the raw client (the pooled one refuses padded values)."""
    key = "dcs_test_padded_0123456789"
    body = json.dumps({"ok": True}).encode()

    async def answer(request, writer):
        writer.write(response("200 OK", {"Content-Length": str(len(body))}, body))
        await writer.drain()

    contract = load_contract()
    headers = {"x-api-key": f"  {key} \t", "X-Dedalus-Org-Id": " org_x\t"}
    with raw_server(answer) as server:
        masker = Masker(names={"DCS_API_KEY": key})
        transport = Transport(server.base_url, masker=masker)
        sent = transport.request(
            "GET", "/v1/usage?period_start=2026-01-01", headers=headers, raw=raw
        )
        finding = {"check": "complete_response", "message": "m", "exchanges": [sent.as_dict()]}
        finding["arguments"] = [
            {"$contract": True},
            {"$operation": "get /v1/usage"},
            {"$exchange": 0},
        ]
        group = {
            "rank": 1,
            "id": "c",
            "severity": {"category": "wire"},
            "primary": "complete_response",
        }
        group["first"] = {"test": "t", "violations": [finding]}
        text = render_har({"groups": [group], "replay": {"base_url": server.base_url}})
        assert key not in text and "${DCS_API_KEY}" in text
        failures = replay.failures_from(json.loads(text), "failures.har")
        outcome = replay.replay_cause(
            failures.causes[0], failures, transport, contract, {"DCS_API_KEY": key}, None
        )
        transport.close()
    assert outcome.verdict == "fixed", outcome.detail
    first, again = server.requests
    assert again.head == first.head and f"x-api-key:   {key} \t\r\n".encode() in first.head
