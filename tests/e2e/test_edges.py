"""The suite behind real reverse proxies (nginx, HAProxy, Apache httpd, Caddy from Debian's
packages), each started by `conformance._selftest.edges.edge` with the stock configuration of
its documentation in front of the embedded mock: the correct mock passes the default run and
the gate profile through it, and faults behind it are still caught (`--edge`, a subset).

A proxy that is not installed skips its tests with the install command in the reason, except
in CI (the environment variable CI set), where that is a failure: CI installs all four.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace

import pytest

from conformance._contract.expect import DEFAULT_EXPECT
from conformance._selftest import edges
from conformance._selftest.edges import EDGES, Edge, EdgeError, edge, find
from conformance._selftest.matrix import run_matrix
from conformance._selftest.plan import Options, family_faults
from conformance._selftest.report import to_markdown
from conformance.mock import FAULTS, create_app, load_fixtures, serve
from tests._support import output, run_module, run_suite

#: the `--edge` kill matrix here, CI's behind every proxy (the nightly runs every fault): a
#: family whole (HEAD: some of it each proxy passes through, some it hides, as a HEAD's answer
#: ends with its header section, whatever follows) and a fault each proxy passes through
FAULT_SUBSET = ("missing_key_200", *family_faults(["HEAD"]))


def installed(name: str) -> Edge:
    """The edge ``name``; skipped when it is not installed, failed when in CI."""
    try:
        return find(name)
    except EdgeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI installs every proxy, yet: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def fixtures():
    return load_fixtures()


@pytest.fixture(scope="module")
def upstream(fixtures) -> Iterator[int]:
    """The correct mock on a free loopback port: the port."""
    with serve(create_app(fixtures), host="127.0.0.1", port=0) as server:
        yield int(server.base_url.rpartition(":")[2])


def suite_args(base_url: str, fixtures) -> tuple[str, ...]:
    key, org = fixtures.suite_credentials
    empty_key, empty_org = fixtures.suite_empty_org
    return (
        *("--base-url", base_url, "--api-key", key, "--org-id", org),
        *("--empty-org-key", empty_key, "--empty-org-id", empty_org),
        *("--expect", str(DEFAULT_EXPECT)),
    )


# --- the configurations, without running anything -------------------------------------


@pytest.mark.parametrize("name", list(EDGES))
def test_configuration_is_stock_plus_its_fix_lines(name: str, tmp_path) -> None:
    found = EDGES[name]
    text = found.config(18001, 18002, tmp_path)
    assert "127.0.0.1:18001" in text and "127.0.0.1:18002" in text and "$" not in text
    stock = found.config(18001, 18002, tmp_path, fixes=False)
    for fix in found.fixes:
        assert fix.line in text and fix.line not in stock
        assert "MUST" in fix.rule and "RFC 91" in fix.rule and fix.breaks
    assert found.install == f"apt-get install -y {found.package}"
    for fault, reason in found.hidden.items():
        assert fault in FAULTS and reason


def test_an_unknown_edge_is_a_usage_error() -> None:
    result = run_module("conformance.selftest", "--edge", "squid", "--faults", "")
    assert result.returncode == 4, output(result)
    assert result.stderr.strip().count("\n") == 0
    assert "unknown edge 'squid' (known: nginx, haproxy, apache, caddy)" in result.stderr


def test_a_missing_edge_names_its_install_command(monkeypatch) -> None:
    gone = replace(EDGES["nginx"], binary="dcs-no-such-proxy")
    monkeypatch.setitem(edges.EDGES, "nginx", gone)
    with pytest.raises(EdgeError) as caught:
        find("nginx")
    assert str(caught.value) == (
        "nginx is not installed (dcs-no-such-proxy not found): sudo apt-get install -y nginx"
    )


# --- each proxy, running ----------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("name", list(EDGES))
def test_the_proxy_forwards_to_the_mock_and_stops(name: str, upstream: int, tmp_path) -> None:
    installed(name)
    with edge(name, upstream, tmp_path) as base_url:
        port = int(base_url.rpartition(":")[2])
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base_url}/v1/usage", timeout=10)
        assert refused.value.code == 401  # the mock's answer, through the proxy
        body = json.loads(refused.value.read())
        assert body["error_code"] == "AUTH_REQUIRED" and body["retryable"] is False
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # stopped: nothing listens there any more


@pytest.mark.e2e
def test_a_proxy_that_does_not_start_says_why(upstream: int, tmp_path, monkeypatch) -> None:
    found = installed("haproxy")
    broken = replace(found, template=found.template + "this is not a keyword\n")
    monkeypatch.setitem(edges.EDGES, "haproxy", broken)
    with (
        pytest.raises(EdgeError, match=r"^HAProxy did not start: .*not"),
        edge("haproxy", upstream, tmp_path, timeout=5),
    ):
        pass


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("name", list(EDGES))
def test_the_correct_mock_passes_behind_the_proxy(
    name: str, upstream: int, fixtures, tmp_path
) -> None:
    installed(name)
    known = EDGES[name].baseline(tmp_path)  # MUSTs it breaks that no line fixes
    with edge(name, upstream, tmp_path) as base_url:
        for profile in ("quick", "gate"):
            reports = tmp_path / profile
            result = run_suite(
                *suite_args(base_url, fixtures),
                *(("--baseline", str(known)) if known else ()),
                *("--profile", profile, "--reports-dir", str(reports), "-q"),
            )
            assert result.returncode == 0, f"--profile {profile}: {output(result)[-3000:]}"


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("name", list(EDGES))
def test_faults_behind_the_proxy_are_caught(name: str) -> None:
    installed(name)
    options = Options(
        faults=FAULT_SUBSET,
        limits=(),
        variants=(),
        seeds=1,
        max_examples=5,
        jobs=2,
        run_timeout=120,
        edge=name,
    )
    matrix = run_matrix(options)
    rows = {row.name: row for row in matrix.rows}
    passed, hidden = rows["missing_key_200"], rows["head_with_body"]
    assert passed.killed and not passed.hidden, passed.run
    assert hidden in matrix.hidden and hidden.hidden == EDGES[name].hidden["head_with_body"]
    assert all(row.killed or row.hidden for row in matrix.rows if row.name in FAULT_SUBSET)
    assert not matrix.survivors and not matrix.hidden_but_killed
    text = to_markdown(matrix)
    assert f"## Behind `{name}`" in text
    assert f"| `head_with_body` | {hidden.hidden} | hidden |" in text
