"""Loading the contract: validation, the overlay, and specs other than the vendored one."""

from __future__ import annotations

import copy

import pytest
import yaml
from _support import REPO, output, run_suite

from conformance._errors import ConfigError
from conformance._spec import DEFAULT_SPEC, load_contract

PUBLISHED = yaml.safe_load(DEFAULT_SPEC.read_text())


def write(tmp_path, document, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document))
    return path


def test_vendored_spec_is_the_published_one_unchanged():
    seed = REPO.parent / "shared" / "seed" / "dcs-openapi-usage.yaml"
    if not seed.exists():
        pytest.skip("the published seed is not beside this checkout")
    assert DEFAULT_SPEC.read_bytes() == seed.read_bytes()


def test_overlay_reads_period_start_as_a_date():
    contract = load_contract()
    usage = contract.operation("/v1/usage", "get")
    validator = contract.validator(contract.parameter_pointer(usage, "period_start"))
    assert validator.is_valid("2025-02-01")
    for bad in ("2025-02-30", "20250201", "2025-2-1", "", "\uff12025-02-01"):
        assert not validator.is_valid(bad), bad
    assert load_contract(overlay=None).raw["paths"]["/v1/usage"]["get"]["parameters"][0][
        "schema"
    ] == {
        "description": PUBLISHED["paths"]["/v1/usage"]["get"]["parameters"][0]["schema"][
            "description"
        ],
        "type": "string",
    }


def test_overlay_does_not_touch_the_published_document():
    load_contract()
    assert (
        "format"
        not in yaml.safe_load(DEFAULT_SPEC.read_text())["paths"]["/v1/usage"]["get"]["parameters"][
            0
        ]["schema"]
    )


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON or YAML"),
        ("- a\n- b\n", "not an OpenAPI document"),
        ("openapi: 3.1.0\ninfo: {title: x}\npaths: {}\n", "invalid OpenAPI"),
    ],
)
def test_bad_specs_are_one_line_config_errors(tmp_path, content, message):
    path = tmp_path / "spec.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_contract(path)
    assert "\n" not in str(info.value)


def test_spec_without_the_usage_operation_is_a_usage_error(tmp_path):
    document = copy.deepcopy(PUBLISHED)
    document["paths"] = {"/v1/other": document["paths"]["/v1/usage"]}
    result = run_suite("--spec", str(write(tmp_path, document)), "-q")
    assert result.returncode == 4, output(result)
    assert "GET /v1/usage" in result.stderr


def test_generic_checks_cover_operations_a_newer_spec_adds(tmp_path):
    document = copy.deepcopy(PUBLISHED)
    document["paths"]["/v1/usage/forecast"] = {
        "get": {
            "operationId": "getForecast",
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/UsageBody"}}
                    },
                }
            },
        }
    }
    spec = write(tmp_path, document)
    result = run_suite("--spec", str(spec), "-k", "generated", "--max-examples", "3", "-q")
    text = output(result)
    assert "GET /v1/usage/forecast" in text, text
    # The embedded mock does not implement it: 404 is undocumented there, so the suite says so.
    assert result.returncode == 1, text
    assert "test_generated_requests[GET /v1/usage/forecast]" in text
    assert (
        "FAILED conformance/test_generated.py::test_generated_requests[GET /v1/usage]" not in text
    )
