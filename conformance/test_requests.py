"""How the target treats the request itself: undeclared query parameters and methods."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.checks import requests


def undeclared_names(dcs):
    declared = {p["name"] for p in dcs.usage.definition.get("parameters", [])}
    return st.from_regex(r"[a-z][a-z0-9_]{0,19}", fullmatch=True).filter(
        lambda name: name not in declared
    )


@given(data=st.data())
def test_unknown_params_harmless(dcs, data):
    name = data.draw(undeclared_names(dcs), label="name")
    value = data.draw(st.text(max_size=30), label="value")
    requests.unknown_params_harmless(dcs.get_usage(params=[(name, value)]))


UNDECLARED = ["POST", "PUT", "PATCH", "DELETE"]


@pytest.mark.parametrize("method", UNDECLARED)
def test_undeclared_method_refused(dcs, method):
    if not dcs.settings.method_probes:
        pytest.skip("--no-method-probes: only GET is sent")
    declared = dcs.contract.allowed_methods(dcs.usage.path)
    if method in declared:
        pytest.skip(f"the spec declares {method} {dcs.usage.path}: a write, never sent")
    requests.undeclared_method_refused(declared, dcs.get_usage(method=method))


def test_problem_title_stable(dcs):
    if not dcs.settings.method_probes:
        pytest.skip("--no-method-probes: only GET is sent")
    method = next(
        (m for m in UNDECLARED if m not in dcs.contract.allowed_methods(dcs.usage.path)), None
    )
    if method is None:
        pytest.skip("every probed method is declared")
    first, second = (dcs.get_usage(method=method) for _ in range(2))
    requests.problem_title_stable(first, second)
