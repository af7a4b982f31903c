"""The declared path spelled differently: never the usage body without the key, and with it
either a refusal or the same answer as the declared path. Other versions and mounts of it
never give the usage without the key either."""

import pytest

from conformance._contract.spec import USAGE_PATH
from conformance._core.dates import CLOSED_PERIOD_OFFSET, month_start
from conformance.checks import requests
from conformance.checks.usage import usage_fields

CLOSED = month_start(CLOSED_PERIOD_OFFSET).isoformat()


def spellings(path: str) -> dict[str, str]:
    """Other spellings of `path` that lenient routers and normalisers read as the same."""
    head, _, last = path.rpartition("/")
    encoded = f"%{ord(last[0]):02X}{last[1:]}"
    return {
        "trailing_slash": f"{path}/",
        "doubled_slash": f"{head}//{last}",
        "leading_double_slash": f"/{path}",
        "dot_segment": f"{head}/./{last}",
        "dot_dot_segment": f"{head}/x/../{last}",
        "encoded_letter": f"{head}/{encoded}",
        "encoded_slash": f"{head}%2F{last}",
        "upper_case": path.upper(),
        "capitalised": f"{head}/{last.capitalize()}",
        "matrix_parameter": f"{path};x=1",
        "encoded_dot_segment": f"{head}/%2E/{last}",
    }


NAMES = list(spellings(USAGE_PATH))


@pytest.mark.parametrize("spelling", NAMES)
def test_path_variant_without_key(dcs, spelling):
    path = spellings(dcs.usage.path)[spelling]
    requests.path_variant_guarded(dcs.probe_usage(path, scheme=None, period_start=CLOSED))


@pytest.mark.parametrize("spelling", NAMES)
def test_path_variant_with_key(dcs, spelling):
    reference = dcs.get_usage(period_start=CLOSED)
    variant = dcs.probe_usage(spellings(dcs.usage.path)[spelling], period_start=CLOSED)
    requests.path_variant_same_contract(reference, variant)


def siblings(path: str) -> dict[str, str]:
    """Paths an older, newer or internal deployment of `path` is commonly found at (OWASP
    API9:2023): another version, a mount under /api or /internal, a format suffix."""
    version, _, rest = path.lstrip("/").partition("/")
    found = {"format_suffix": f"{path}.json", "api_mount": f"/api{path}"}
    found["internal_mount"] = f"/internal{path}"
    if rest and version[:1] == "v" and version[1:].isdigit():
        number = int(version[1:])
        found["older_version"] = f"/v{number - 1}/{rest}"
        found["newer_version"] = f"/v{number + 1}/{rest}"
    return found


SIBLINGS = list(siblings(USAGE_PATH))


@pytest.mark.parametrize("sibling", SIBLINGS)
def test_sibling_path_without_key(dcs, sibling):
    path = siblings(dcs.usage.path).get(sibling)
    if path is None:
        pytest.skip(f"the declared path {dcs.usage.path} has no version segment")
    exchange = dcs.probe_usage(path, scheme=None, period_start=CLOSED)
    requests.sibling_path_gives_no_usage(usage_fields(dcs.contract, dcs.usage), exchange)
