"""The contract as the suite reads it: operations, security schemes, documented responses and
their schemas. Knowledge only: reading a document from a file or URL is `_run.load`'s job."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any
from urllib.parse import unquote

SPEC_RESOURCE = "urn:dcs-conformance:spec"
USAGE_PATH = "/v1/usage"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: Methods that change state on the server: the suite never sends one the spec declares.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The header that scopes a request to an org (declared on the controlplane's other operations).
ORG_HEADER = "X-Dedalus-Org-Id"


@dataclass(frozen=True)
class AuthScheme:
    """How a security scheme of the spec carries a key: a header, and a prefix before the key
    (`apiKey` in a header: none; `http` bearer: "Bearer ")."""

    label: str  # "x-api-key" (the header, for apiKey) or "bearer" (the http scheme)
    header: str
    prefix: str = ""

    def headers(self, key: str) -> dict[str, str]:
        return {self.header: f"{self.prefix}{key}"}

    def carried_by(self, headers: Mapping[str, str]) -> bool:
        """Whether `headers` present credentials this way (names and schemes in any case)."""
        value = next((v for k, v in headers.items() if k.lower() == self.header.lower()), None)
        if value is None:
            return False
        return not self.prefix or value[: len(self.prefix)].lower() == self.prefix.lower()


@dataclass(frozen=True)
class Operation:
    """One operation of the spec: its path template, lower-case method and definition."""

    path: str
    method: str
    definition: dict[str, Any] = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def is_write(self) -> bool:
        return self.method.upper() in WRITE_METHODS

    @cached_property
    def path_pattern(self) -> re.Pattern[str]:
        """The concrete paths of this operation: each `{parameter}` is one non-empty segment."""
        parts = re.split(r"(\{[^}/]*\})", self.path)
        return re.compile(
            "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts),
            re.IGNORECASE,  # a case-insensitive router reaches the same handler
        )


@dataclass(frozen=True)
class DocumentedResponse:
    """The response the spec documents for one status of one operation."""

    status_key: str  # "200", "4XX" or "default"
    media_types: tuple[str, ...]
    schema_pointers: dict[str, str] = field(compare=False)  # media type -> JSON pointer


class Contract:
    """The spec as the suite reads it (published document plus our overlay)."""

    def __init__(self, raw: dict[str, Any], *, source: str, sha256: str) -> None:
        self.raw = raw
        self.source = source
        self.sha256 = sha256

    @property
    def version(self) -> str:
        return str(self.raw.get("info", {}).get("version", "unknown"))

    @cached_property
    def operations(self) -> tuple[Operation, ...]:
        found = []
        for path, item in self.raw.get("paths", {}).items():
            for method in HTTP_METHODS:
                if method in item:
                    found.append(Operation(path, method, item[method]))
        return tuple(found)

    def operation(self, path: str, method: str) -> Operation:
        for operation in self.operations:
            if operation.path == path and operation.method == method.lower():
                return operation
        raise KeyError(f"{method.upper()} {path} is not in the spec")

    @property
    def write_operations(self) -> tuple[Operation, ...]:
        """The operations the suite never exercises: declared POST, PUT, PATCH and DELETE."""
        return tuple(op for op in self.operations if op.is_write)

    def declared_write(self, method: str, path: str) -> Operation | None:
        """The write operation of the spec that `method path` (a concrete path) would reach.

        `path` is matched as sent, percent-decoded and normalised (doubled slashes, dot
        segments, a trailing slash), as a lenient router might read it: no spelling of a
        declared write slips past."""
        if method.upper() not in WRITE_METHODS:
            return None
        candidates = {path, unquote(path)}
        candidates |= {"/" + posixpath.normpath(c).lstrip("/") for c in set(candidates)}
        for operation in self.write_operations:
            if operation.method.upper() == method.upper() and any(
                operation.path_pattern.fullmatch(candidate) for candidate in candidates
            ):
                return operation
        return None

    @cached_property
    def auth_schemes(self) -> tuple[AuthScheme, ...]:
        """The ways to present a key that the spec's security requirements name, in order:
        `apiKey` schemes in a header and `http` bearer schemes (others cannot carry a key)."""
        schemes = self.raw.get("components", {}).get("securitySchemes", {})
        required = [*self.raw.get("security", [])]
        for operation in self.operations:
            required += operation.definition.get("security", [])
        found: dict[tuple[str, str], AuthScheme] = {}
        for name in (name for requirement in required for name in requirement):
            scheme = _auth_scheme(schemes.get(name, {}))
            if scheme is not None:
                found.setdefault((scheme.header.lower(), scheme.prefix.lower()), scheme)
        return tuple(found.values())

    @property
    def secret_headers(self) -> frozenset[str]:
        """The (lower-case) names of the headers that carry a key."""
        return frozenset(scheme.header.lower() for scheme in self.auth_schemes)

    def auth_scheme(self, label: str) -> AuthScheme:
        for scheme in self.auth_schemes:
            if scheme.label == label:
                return scheme
        raise KeyError(f"the spec has no security scheme {label!r}")

    def allowed_methods(self, path: str) -> set[str]:
        """Methods the spec declares for a path (upper case; HEAD rides along with GET)."""
        declared = {op.method.upper() for op in self.operations if op.path == path}
        return declared | ({"HEAD"} if "GET" in declared else set())

    def documented_response(self, operation: Operation, status: int) -> DocumentedResponse | None:
        """The documented response for a status: exact code, then range (4XX), then default."""
        responses = operation.definition.get("responses", {})
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in responses:
                return self._describe(operation, key, responses[key])
        return None

    def _describe(self, operation: Operation, key: str, response: dict) -> DocumentedResponse:
        base = f"/paths/{_escape(operation.path)}/{operation.method}/responses/{_escape(key)}"
        content = response.get("content", {})
        pointers = {
            media: f"{base}/content/{_escape(media)}/schema"
            for media, body in content.items()
            if "schema" in body
        }
        return DocumentedResponse(key, tuple(content), pointers)

    def parameter_pointer(self, operation: Operation, name: str, where: str = "query") -> str:
        """JSON pointer to the schema of one declared parameter of an operation."""
        for index, parameter in enumerate(operation.definition.get("parameters", [])):
            if parameter.get("name") == name and parameter.get("in") == where:
                base = f"/paths/{_escape(operation.path)}/{operation.method}"
                return f"{base}/parameters/{index}/schema"
        raise KeyError(f"{operation.label} declares no {where} parameter {name!r}")

    def validator(self, pointer: str) -> Any:
        """A Draft 2020-12 validator (formats asserted, int64 included) for a schema in the spec."""
        return _validator(self, pointer)

    def resolve(self, pointer: str) -> Any:
        """The value at a JSON pointer, following one level of `$ref` at the end."""
        node: Any = self.raw
        for part in pointer.lstrip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        while isinstance(node, dict) and "$ref" in node:
            node = self.resolve(node["$ref"].removeprefix("#"))
        return node

    def integer_fields(self, operation: Operation, status: int = 200) -> tuple[str, ...]:
        """Names of the integer properties of an operation's JSON body for a status."""
        documented = self.documented_response(operation, status)
        if documented is None:
            return ()
        fields: list[str] = []
        for pointer in documented.schema_pointers.values():
            schema = self.resolve(pointer)
            for name, prop in schema.get("properties", {}).items():
                if prop.get("type") == "integer" or "integer" in (prop.get("type") or []):
                    fields.append(name)
        return tuple(fields)


@lru_cache(maxsize=64)
def _validator(contract: Contract, pointer: str) -> Any:
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resource(
        SPEC_RESOURCE, Resource.from_contents(contract.raw, default_specification=DRAFT202012)
    )
    checker = FormatChecker()
    checker.checks("int64")(lambda value: not isinstance(value, int) or -(2**63) <= value < 2**63)
    checker.checks("int32")(lambda value: not isinstance(value, int) or -(2**31) <= value < 2**31)
    return Draft202012Validator(
        {"$ref": f"{SPEC_RESOURCE}#{pointer}"}, registry=registry, format_checker=checker
    )


def _auth_scheme(definition: Mapping[str, Any]) -> AuthScheme | None:
    if definition.get("type") == "apiKey" and definition.get("in") == "header":
        name = str(definition.get("name", ""))
        return AuthScheme(name.lower(), name) if name else None
    if definition.get("type") == "http" and str(definition.get("scheme", "")).lower() == "bearer":
        return AuthScheme("bearer", "Authorization", "Bearer ")
    return None


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
