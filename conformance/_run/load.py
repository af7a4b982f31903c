"""Reading the contract: a spec from a file or URL, validated, with our overlay applied.

The run layer's job, so that the contract (`_contract`) stays knowledge and no check or report
reaches an HTTP client. Every failure is one `ConfigError` line.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from conformance._contract.drift import compare, summarize
from conformance._contract.spec import USAGE_PATH, Contract
from conformance._core.errors import ConfigError
from conformance.resources import data_path

SPECS_DIR = data_path("specs")
DEFAULT_SPEC = SPECS_DIR / "dcs-openapi-usage.yaml"
OVERLAY = SPECS_DIR / "overlay.yaml"


def load_contract(
    location: str | Path | None = None, *, overlay: Path | None = OVERLAY
) -> Contract:
    """Read, validate and overlay a spec; every failure is one `ConfigError` line."""
    location = str(location or DEFAULT_SPEC)
    text = _read(location)
    try:
        raw = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"spec {location}: not valid JSON or YAML ({_first_line(exc)})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"spec {location}: not an OpenAPI document (top level is not a mapping)")
    _validate(raw, location)
    if overlay is not None:
        apply_overlay(raw, overlay)
    if "get" not in raw.get("paths", {}).get(USAGE_PATH, {}):
        raise ConfigError(f"spec {location}: no GET {USAGE_PATH}, the operation this suite tests")
    sha = hashlib.sha256(text.encode()).hexdigest()
    contract = Contract(raw, source=location, sha256=sha)
    if not contract.auth_schemes:
        raise ConfigError(
            f"spec {location}: no security scheme the suite can present a key with "
            "(an apiKey in a header, or http bearer)"
        )
    return contract


def _read(location: str) -> str:
    if location.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.get(location, timeout=10.0, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ConfigError(f"spec {location}: cannot be fetched ({_first_line(exc)})") from exc
        return response.text
    try:
        return Path(location).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _first_line(exc)
        raise ConfigError(f"spec {location}: cannot be read ({reason})") from exc


#: Digests of the documents found valid in this process (a forked one inherits them): a document
#: is validated once however many times it is loaded.
_VALID: set[str] = set()


def _validate(raw: dict[str, Any], location: str) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    if digest in _VALID:
        return
    try:
        validate(raw)
    except OpenAPIValidationError as exc:
        where = "/".join(str(part) for part in getattr(exc, "path", ())) or "document"
        raise ConfigError(
            f"spec {location}: invalid OpenAPI at {where}: {_first_line(exc)}"
        ) from exc
    except Exception as exc:  # the validator raises assorted errors on badly broken documents
        raise ConfigError(f"spec {location}: invalid OpenAPI ({_first_line(exc)})") from exc
    _VALID.add(digest)


def apply_overlay(raw: dict[str, Any], overlay_path: Path) -> None:
    """Apply the `update` actions of an OpenAPI Overlay 1.0 document in place."""
    from jsonpath_ng.ext import parse

    overlay = yaml.safe_load(overlay_path.read_text(encoding="utf-8"))
    for action in overlay.get("actions", []):
        for match in parse(action["target"]).find(raw):
            if isinstance(match.value, dict):
                match.value.update(copy.deepcopy(action.get("update", {})))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def load_raw(location: str | None) -> dict[str, Any]:
    """A spec as published (validated, no overlay); `None` is the vendored one."""
    return load_contract(location or DEFAULT_SPEC, overlay=None).raw


def spec_drift(old: str | None, new: str) -> dict[str, Any]:
    """Load and compare two specs for the reports; a read error is recorded, not raised."""
    old_label = old or str(DEFAULT_SPEC.relative_to(DEFAULT_SPEC.parent.parent))
    try:
        changes = compare(load_raw(old), load_raw(new))
    except ConfigError as exc:
        return {"old": old_label, "new": new, "identical": None, "error": str(exc)}
    return summarize(changes, old_label, new)
