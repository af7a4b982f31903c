"""Confirming root causes by re-sending their first failing exchanges (conformance/_run/confirm.py):
the five-fault findings of issue 17 sent again to mocks in this process, broken every time,
never, or one answer in two; within a request budget; from another test when the first
test's requests cannot be sent again."""

from __future__ import annotations

import copy

import pytest

from conformance._client.transport import Limits, Transport
from conformance._core.exchange import Masker
from conformance._run.confirm import confirm
from conformance._run.load import load_contract
from conformance._run.session import read_only_guard
from conformance.mock import create_app, faulty_app, load_fixtures, serve
from tests.report.findings import five_fault_results, summarise

FAULTS = ["usage_counter_float", "error_code_lowercase", "bearer_prefix_kept",
          "plan_slug_empty", "auth_errors_retryable"]  # fmt: skip
RUN_BASE = "http://127.0.0.1:9"  # where the findings' requests went


@pytest.fixture(scope="module")
def fixtures():
    return load_fixtures()


@pytest.fixture(scope="module")
def found():
    return summarise(five_fault_results())


def confirmed(app, fixtures, groups, *, tries=2, budget=None, tests=None):
    contract = load_contract()
    key = fixtures.suite_credentials[0]
    with serve(app, host="127.0.0.1", port=0) as server:
        transport = Transport(
            server.base_url,
            limits=Limits(max_requests=budget, max_retries=0),
            masker=Masker(names={"DCS_API_KEY": key}),
            guard=read_only_guard(contract),
        )
        try:
            return confirm(groups, transport, contract, {"DCS_API_KEY": key}, tries=tries,
                           base_url=RUN_BASE, tests=tests)  # fmt: skip
        finally:
            transport.close()


def verdicts(done):
    return {cause: (r["verdict"], r["failed"], r["tries"]) for cause, r in done.causes.items()}


def test_a_target_broken_every_time_reproduces_every_root_cause(fixtures, found):
    done = confirmed(faulty_app(fixtures, FAULTS), fixtures, found["groups"], tries=3)
    assert set(verdicts(done).values()) == {("reproduced", 3, 3)}, verdicts(done)
    assert list(done.causes) == [g["id"] for g in found["groups"]]
    sent = sum(len(g["first"]["violations"][0]["exchanges"]) for g in found["groups"])
    assert done.requests >= 3 * len(found["groups"]) and done.requests <= 3 * sent + 6
    assert done.causes["valid key answered 401"]["test"] == "t::valid_bearer"
    assert done.as_dict() == {"tries": 3, "requests": done.requests, "budget_used_up": False}


def test_a_root_cause_the_target_no_longer_shows_did_not_fail_every_time(fixtures, found):
    done = confirmed(create_app(fixtures), fixtures, found["groups"])
    assert set(verdicts(done).values()) == {("intermittent", 0, 2)}


def test_a_target_broken_one_answer_in_two_is_intermittent(fixtures, found):
    correct, broken = create_app(fixtures), faulty_app(fixtures, ["plan_slug_empty"])
    answers = []

    async def alternating(scope, receive, send):
        if scope["type"] == "http":
            answers.append(scope["path"])
        app = broken if len(answers) % 2 else correct
        await app(scope, receive, send)

    [slug] = [g for g in found["groups"] if g["id"] == "$.plan_slug empty string"]
    done = confirmed(alternating, fixtures, [slug], tries=4)
    assert verdicts(done) == {"$.plan_slug empty string": ("intermittent", 2, 4)}
    assert len(answers) == 4


def test_the_re_sends_stay_within_the_request_budget(fixtures, found):
    groups = found["groups"][:3]
    done = confirmed(faulty_app(fixtures, FAULTS), fixtures, groups, budget=3)
    assert done.requests == 3 and done.budget_used_up
    first, second, third = (done.causes[g["id"]] for g in groups)
    assert (first["verdict"], first["tries"]) == ("reproduced", 2)
    assert (second["verdict"], second["tries"]) == ("reproduced", 1)  # what was left
    assert third == {
        "tries": 0, "failed": 0, "verdict": "not confirmed",
        "why": "the request budget (--max-requests) is used up", "test": "t::valid_x_api_key",
    }  # fmt: skip


def test_a_first_test_whose_key_was_changed_gives_way_to_another(fixtures, found):
    codes = copy.deepcopy(next(g for g in found["groups"] if g["id"].startswith("$.error_code")))
    assert codes["first"]["test"] == "t::missing_key" and codes["test_ids"][1] == "t::valid_bearer"
    for finding in codes["first"]["violations"]:
        for exchange in finding["exchanges"]:  # as if it had carried a near-miss key
            exchange["request"]["headers"] = {"x-api-key": "***"}
            exchange["request"].pop("template", None)
    alone = confirmed(faulty_app(fixtures, FAULTS), fixtures, [codes])
    record = alone.causes[codes["id"]]
    assert record["verdict"] == "not confirmed" and alone.requests == 0
    assert record["why"].endswith("rerun t::missing_key")
    tests = {f["test"]: f["violation"] for f in found["failures"]}
    other = confirmed(faulty_app(fixtures, FAULTS), fixtures, [codes], tests=tests)
    assert other.causes[codes["id"]] == {
        "tries": 2, "failed": 2, "verdict": "reproduced", "test": "t::valid_bearer"
    }  # fmt: skip
