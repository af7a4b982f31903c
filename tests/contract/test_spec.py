"""Loading the contract: validation, the overlay, and specs other than the vendored one."""

from __future__ import annotations

import copy

import pytest
import yaml

from conformance._core.errors import ConfigError
from conformance._run.load import DEFAULT_SPEC, load_contract
from tests._support import REPO, output, run_suite

PUBLISHED_SEED = yaml.safe_load(DEFAULT_SPEC.read_text())


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
        "description": PUBLISHED_SEED["paths"]["/v1/usage"]["get"]["parameters"][0]["schema"][
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


@pytest.mark.e2e
def test_spec_without_the_usage_operation_is_a_usage_error(tmp_path):
    document = copy.deepcopy(PUBLISHED_SEED)
    document["paths"] = {"/v1/other": document["paths"]["/v1/usage"]}
    result = run_suite("--spec", str(write(tmp_path, document)), "-q")
    assert result.returncode == 4, output(result)
    assert "GET /v1/usage" in result.stderr


@pytest.mark.e2e
def test_generic_checks_cover_operations_a_newer_spec_adds(tmp_path):
    document = copy.deepcopy(PUBLISHED_SEED)
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


PUBLISHED = REPO.parent / "shared" / "published" / "dcs-openapi-published.json"


def test_declared_writes_are_found_in_every_spelling():
    if not PUBLISHED.exists():
        pytest.skip("the published spec is not beside this checkout")
    contract = load_contract(PUBLISHED)
    assert len(contract.operations) == 35 and len(contract.write_operations) == 14
    spellings = [
        ("POST", "/v1/machines"),
        ("post", "/v1/machines/"),
        ("POST", "//v1//machines"),
        ("POST", "/V1/MACHINES"),
        ("DELETE", "/v1/machines/dm-1"),
        ("DELETE", "/v1/machines/dm%2D1"),
        ("PATCH", "/v1/usage/../machines/dm-1"),
        ("POST", "/v1/machines/./dm-1/wake/"),
    ]
    for method, path in spellings:
        assert contract.declared_write(method, path) is not None, (method, path)
    for method, path in [("GET", "/v1/machines"), ("POST", "/v1/usage"), ("PUT", "/v1/machines/x")]:
        assert contract.declared_write(method, path) is None, (method, path)


def test_auth_schemes_are_read_from_the_spec():
    schemes = load_contract().auth_schemes
    assert [(s.label, s.header, s.prefix) for s in schemes] == [
        ("x-api-key", "x-api-key", ""),
        ("bearer", "Authorization", "Bearer "),
    ]
    bearer = schemes[1]
    assert bearer.headers("k") == {"Authorization": "Bearer k"}
    assert bearer.carried_by({"authorization": "bearer k"})
    assert not bearer.carried_by({"Authorization": "Basic k"})


def test_a_spec_without_a_usable_security_scheme_is_a_usage_error(tmp_path):
    document = copy.deepcopy(PUBLISHED_SEED)
    document["components"]["securitySchemes"] = {
        "OAuth": {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/t", "scopes": {}}},
        }
    }
    document["security"] = [{"OAuth": []}]
    with pytest.raises(ConfigError, match="no security scheme the suite can present a key with"):
        load_contract(write(tmp_path, document))
