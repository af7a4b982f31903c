"""Requests generated from the spec by schemathesis and hypothesis, for every operation.

Positive and negative data, the coverage phase's boundary cases and undeclared methods; each
response is judged by schemathesis's response checks and by every response check of ours.
"""

from conformance._generated import check_case
from conformance.plugin import generated_schema

schema = generated_schema()


@schema.parametrize()
def test_generated_requests(case, dcs):
    check_case(dcs, case)
