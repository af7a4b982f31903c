"""Spec drift: the pure comparison, the `python -m conformance.drift` command, `--compare-spec`."""

from __future__ import annotations

import copy
import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from conformance._contract.drift import compare, format_report, summarize
from conformance._run.load import DEFAULT_SPEC
from tests._support import output, run_module, run_suite

VENDORED = yaml.safe_load(DEFAULT_SPEC.read_text(encoding="utf-8"))


def spec(**components) -> dict:
    """A small OpenAPI 3.1 document with one operation whose 200 body is `#/.../Thing`."""
    thing = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id"],
        "properties": {
            "id": {"type": "string"},
            "size": {"type": "integer", "format": "int64"},
            "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/things": {
                "parameters": [{"name": "org", "in": "header", "schema": {"type": "string"}}],
                "get": {
                    "parameters": [{"$ref": "#/components/parameters/Limit"}],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Thing"}
                                }
                            },
                        },
                        "404": {"$ref": "#/components/responses/NotFound"},
                    },
                },
            }
        },
        "components": {
            "parameters": {
                "Limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}}
            },
            "responses": {
                "NotFound": {
                    "description": "missing",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
            "schemas": {
                "Thing": thing,
                "Tag": {"type": "object", "properties": {"name": {"type": "string"}}},
                **components,
            },
        },
    }


def changes_of(old: dict, new: dict) -> set[tuple[str, str, str]]:
    return {(c.kind, c.where, c.detail) for c in compare(old, new)}


BODY = "GET /things response 200 application/json body"


def test_identical_documents_have_no_drift():
    assert compare(spec(), spec()) == []
    assert compare(VENDORED, copy.deepcopy(VENDORED)) == []
    assert format_report([], "a", "b") == "No drift: b matches a.\n"


def test_prose_does_not_count():
    new = spec()
    new["info"]["description"] = "new words"
    new["components"]["schemas"]["Thing"]["properties"]["id"]["description"] = "the id"
    assert compare(spec(), new) == []


def test_operations_added_and_removed():
    new = spec()
    new["paths"]["/things"]["post"] = {"responses": {"201": {"description": "made"}}}
    new["paths"]["/other"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    assert changes_of(spec(), new) == {
        ("added", "POST /things", "operation"),
        ("added", "GET /other", "operation"),
    }
    assert changes_of(new, spec()) == {
        ("removed", "POST /things", "operation"),
        ("removed", "GET /other", "operation"),
    }


def _parameters(new: dict) -> None:
    new["components"]["parameters"]["Limit"]["required"] = True
    new["components"]["parameters"]["Limit"]["schema"] = {"type": "string", "format": "uuid"}
    new["paths"]["/things"]["parameters"] = []
    new["paths"]["/things"]["get"]["parameters"].append(
        {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}
    )


def _responses(new: dict) -> None:
    responses = new["paths"]["/things"]["get"]["responses"]
    responses["500"] = {"description": "oops"}
    del responses["404"]
    content = responses["200"]["content"]
    content["application/problem+json"] = content.pop("application/json")


LIMIT = "GET /things parameter query.limit"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            _parameters,
            {
                ("changed", LIMIT, "now required"),
                ("changed", LIMIT, "type integer -> string"),
                ("changed", LIMIT, "format (none) -> uuid"),
                ("removed", "GET /things parameter header.org", ""),
                ("added", "GET /things parameter query.q (required)", ""),
            },
        ),
        (
            _responses,
            {
                ("added", "GET /things response 500", ""),
                ("removed", "GET /things response 404", ""),
                ("removed", "GET /things response 200 application/json", ""),
                ("added", "GET /things response 200 application/problem+json", ""),
            },
        ),
    ],
    ids=["parameters through refs and path items", "responses: status codes and media types"],
)
def test_operation_edits(edit: Callable[[dict], None], expected: set) -> None:
    new = spec()
    edit(new)
    assert changes_of(spec(), new) == expected


def test_schema_fields_through_refs():
    new = spec()
    thing = new["components"]["schemas"]["Thing"]
    thing["required"] = ["id", "size"]
    thing["additionalProperties"] = True
    del thing["properties"]["id"]
    thing["properties"]["size"]["format"] = "int32"
    thing["properties"]["colour"] = {"type": ["string", "null"]}
    new["components"]["schemas"]["Tag"]["properties"]["name"]["type"] = "integer"
    assert changes_of(spec(), new) == {
        ("changed", f"{BODY}.size", "now required"),
        ("changed", BODY, "additionalProperties False -> True"),
        ("removed", f"{BODY}.id", "field"),
        ("changed", f"{BODY}.size", "format int64 -> int32"),
        ("added", f"{BODY}.colour", "field ([string, null])"),
        ("changed", f"{BODY}.tags[].name", "type string -> integer"),
    }


def test_recursive_schemas_terminate():
    node = {
        "type": "object",
        "properties": {"child": {"$ref": "#/components/schemas/Node"}, "n": {"type": "string"}},
    }
    old, new = spec(Node=node), spec(Node=copy.deepcopy(node))
    for doc in (old, new):
        doc["components"]["schemas"]["Thing"]["properties"]["node"] = {
            "$ref": "#/components/schemas/Node"
        }
    new["components"]["schemas"]["Node"]["properties"]["n"]["type"] = "integer"
    assert changes_of(old, new) == {("changed", f"{BODY}.node.n", "type string -> integer")}


def test_vendored_spec_modified():
    new = copy.deepcopy(VENDORED)
    usage = new["components"]["schemas"]["UsageBody"]
    usage["properties"]["billed_gpu_seconds"] = {"type": "integer", "format": "int64"}
    usage["required"].remove("plan_slug")
    new["info"]["version"] = "v2"
    changes = compare(VENDORED, new)
    where = "GET /v1/usage response 200 application/json body"
    assert {(c.kind, c.where, c.detail) for c in changes} == {
        ("changed", "info.version", "v1 -> v2"),
        ("changed", f"{where}.plan_slug", "no longer required"),
        ("added", f"{where}.billed_gpu_seconds", "field (integer)"),
    }
    report = format_report(changes, "old.yaml", "new.yaml")
    assert report.startswith("Spec drift from old.yaml to new.yaml:\n3 changes: 1 added")
    assert f"+ added    {where}.billed_gpu_seconds: field (integer)" in report
    assert summarize(changes, "a", "b")["counts"] == {"added": 1, "removed": 0, "changed": 2}


# --- the command and the pytest option ---------------------------------------------------------


def drift(*args: str) -> subprocess.CompletedProcess:
    return run_module("conformance.drift", *args, timeout=60)


@pytest.fixture
def modified_spec(tmp_path) -> Path:
    new = copy.deepcopy(VENDORED)
    del new["paths"]["/v1/usage"]["get"]["responses"]["502"]
    path = tmp_path / "published.json"
    path.write_text(json.dumps(new), encoding="utf-8")
    return path


@pytest.fixture
def spec_server(tmp_path, modified_spec) -> Iterator[str]:
    handler = partial(SimpleHTTPRequestHandler, directory=str(modified_spec.parent))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.e2e
def test_command_identical_is_exit_0():
    result = drift(str(DEFAULT_SPEC))
    assert result.returncode == 0, output(result)
    assert result.stdout.startswith("No drift:")


@pytest.mark.e2e
def test_command_drift_is_exit_3(modified_spec):
    result = drift(str(DEFAULT_SPEC), str(modified_spec))
    assert result.returncode == 3, output(result)
    assert "- removed  GET /v1/usage response 502" in result.stdout


@pytest.mark.e2e
def test_command_reads_urls(spec_server):
    result = drift(f"{spec_server}/published.json")
    assert result.returncode == 3, output(result)
    assert "GET /v1/usage response 502" in result.stdout


@pytest.mark.e2e
@pytest.mark.parametrize(
    "args, message",
    [
        ((), "the following arguments are required"),
        (("a", "b", "c"), "at most two specs"),
        (("no/such.yaml",), "cannot be read"),
        (("http://127.0.0.1:9/spec.yaml",), "cannot be fetched"),
    ],
)
def test_command_usage_and_read_errors_are_exit_4(args, message):
    result = drift(*args)
    assert result.returncode == 4, output(result)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in output(result)


@pytest.mark.e2e
def test_compare_spec_reports_drift_without_changing_the_exit(tmp_path, spec_server):
    url = f"{spec_server}/published.json"
    result = run_suite(
        "--max-examples", "2", "-q", "-k", "auth",
        "--reports-dir", str(tmp_path), "--compare-spec", url,
    )  # fmt: skip
    assert result.returncode == 0, output(result)
    assert "dcs-conformance: spec drift: the target publishes a spec we have not vendored" in (
        result.stdout
    )
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["drift"]["new"] == url and summary["drift"]["counts"]["removed"] == 1
    assert "## Spec drift" in (tmp_path / "summary.md").read_text(encoding="utf-8")


@pytest.mark.e2e
def test_compare_spec_unreadable_is_reported_not_fatal(tmp_path):
    result = run_suite(
        "--max-examples", "2", "-q", "-k", "auth",
        "--reports-dir", str(tmp_path), "--compare-spec", "no/such.yaml",
    )  # fmt: skip
    assert result.returncode == 0, output(result)
    assert "could not compare with no/such.yaml" in result.stdout
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert "cannot be read" in summary["drift"]["error"]
