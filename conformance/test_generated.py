"""Requests generated from the spec by schemathesis and hypothesis, for every operation.

Positive and negative data, the coverage phase's boundary cases and undeclared methods; each
response is judged by schemathesis's response checks and by every response check of ours.
The key goes by the spec's first security scheme; the test id says which, e.g.
`test_generated_requests[GET /v1/usage][x-api-key]` (a parametrization of our own also keeps
the operation in the id under pytest 9.2, which builds ids from a test's parameters).
"""

import pytest

from conformance._run.generated import check_case
from conformance.plugin import generated_schema, suite_contract

schema = generated_schema()


@schema.parametrize()
@pytest.mark.parametrize("scheme", [suite_contract().auth_schemes[0].label])
def test_generated_requests(case, dcs, scheme):
    check_case(dcs, case, scheme)
