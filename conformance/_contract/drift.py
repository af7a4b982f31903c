"""Spec drift: what changed between two OpenAPI documents, as a client of the contract sees it.

`compare` is pure (two dicts in, a list of `Change`s out). It looks at operations, parameters,
request bodies, responses (status codes and media types) and schemas (properties, required,
types, formats, enums, additionalProperties, items, allOf/anyOf/oneOf), following local `$ref`s.
Descriptions, examples and other prose are ignored.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from conformance._contract.spec import HTTP_METHODS

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
_MAX_REF_HOPS = 32
_COMBINATORS = ("allOf", "anyOf", "oneOf")


@dataclass(frozen=True)
class Change:
    """One difference: its kind, where it is, and what it is."""

    kind: str  # added | removed | changed
    where: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "where": self.where, "detail": self.detail}


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every difference between two OpenAPI documents that matters to a client."""
    return _Comparison(old, new).run()


def summarize(changes: list[Change], old: str, new: str) -> dict[str, Any]:
    """The JSON-ready drift record used by the reports."""
    counts = Counter(change.kind for change in changes)
    return {
        "old": old,
        "new": new,
        "identical": not changes,
        "counts": {kind: counts[kind] for kind in (ADDED, REMOVED, CHANGED)},
        "changes": [change.as_dict() for change in changes],
    }


def format_report(changes: list[Change], old: str, new: str) -> str:
    """A readable report of the changes from `old` to `new`."""
    if not changes:
        return f"No drift: {new} matches {old}.\n"
    counts = Counter(change.kind for change in changes)
    marks = {ADDED: "+", REMOVED: "-", CHANGED: "~"}
    lines = [
        f"Spec drift from {old} to {new}:",
        f"{len(changes)} change{'s' if len(changes) > 1 else ''}: "
        f"{counts[ADDED]} added, {counts[REMOVED]} removed, {counts[CHANGED]} changed",
        "",
    ]
    lines += [
        f"{marks[c.kind]} {c.kind:<8} {c.where}" + (f": {c.detail}" if c.detail else "")
        for c in changes
    ]
    return "\n".join(lines) + "\n"


class _Comparison:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = old, new
        self.changes: list[Change] = []

    def run(self) -> list[Change]:
        old_version = _get(self.old, "info", "version")
        new_version = _get(self.new, "info", "version")
        if old_version != new_version:
            self._changed("info.version", f"{old_version} -> {new_version}")
        old_ops, new_ops = self._operations(self.old), self._operations(self.new)
        for label in _union(old_ops, new_ops):
            if label not in new_ops:
                self.changes.append(Change(REMOVED, label, "operation"))
            elif label not in old_ops:
                self.changes.append(Change(ADDED, label, "operation"))
            else:
                self._operation(label, old_ops[label], new_ops[label])
        return self.changes

    def _changed(self, where: str, detail: str) -> None:
        self.changes.append(Change(CHANGED, where, detail))

    def _operations(self, doc: dict[str, Any]) -> dict[str, tuple[dict, dict]]:
        found = {}
        for path, item in (doc.get("paths") or {}).items():
            item = _resolve(doc, item)[0]
            for method in HTTP_METHODS:
                if isinstance(item.get(method), dict):
                    found[f"{method.upper()} {path}"] = (item, item[method])
        return found

    def _operation(self, label: str, old: tuple[dict, dict], new: tuple[dict, dict]) -> None:
        old_params, new_params = self._parameters(self.old, *old), self._parameters(self.new, *new)
        for key in _union(old_params, new_params):
            where = f"{label} parameter {key[0]}.{key[1]}"
            if key not in new_params:
                self.changes.append(Change(REMOVED, where))
            elif key not in old_params:
                required = " (required)" if new_params[key].get("required") else ""
                self.changes.append(Change(ADDED, where + required))
            else:
                before, after = old_params[key], new_params[key]
                if bool(before.get("required")) != bool(after.get("required")):
                    self._changed(where, "now required" if after.get("required") else "optional")
                self._schema(where, before.get("schema"), after.get("schema"), frozenset())
        old_body = _resolve(self.old, old[1].get("requestBody") or {})[0]
        new_body = _resolve(self.new, new[1].get("requestBody") or {})[0]
        self._content(f"{label} request body", old_body, new_body)
        old_responses = {str(k): v for k, v in (old[1].get("responses") or {}).items()}
        new_responses = {str(k): v for k, v in (new[1].get("responses") or {}).items()}
        for status in _union(old_responses, new_responses):
            where = f"{label} response {status}"
            if status not in new_responses:
                self.changes.append(Change(REMOVED, where))
            elif status not in old_responses:
                self.changes.append(Change(ADDED, where))
            else:
                before = _resolve(self.old, old_responses[status])[0]
                after = _resolve(self.new, new_responses[status])[0]
                self._content(where, before, after)

    def _parameters(self, doc: dict, item: dict, operation: dict) -> dict[tuple[str, str], dict]:
        found = {}
        for parameter in [*(item.get("parameters") or []), *(operation.get("parameters") or [])]:
            parameter = _resolve(doc, parameter)[0]
            found[(str(parameter.get("in")), str(parameter.get("name")))] = parameter
        return found

    def _content(self, where: str, old: dict, new: dict) -> None:
        old_content, new_content = old.get("content") or {}, new.get("content") or {}
        for media in _union(old_content, new_content):
            if media not in new_content:
                self.changes.append(Change(REMOVED, f"{where} {media}"))
            elif media not in old_content:
                self.changes.append(Change(ADDED, f"{where} {media}"))
            else:
                before, after = old_content[media] or {}, new_content[media] or {}
                self._schema(
                    f"{where} {media} body", before.get("schema"), after.get("schema"), frozenset()
                )

    def _schema(self, where: str, old: Any, new: Any, seen: frozenset) -> None:
        old, old_ref = _resolve(self.old, old)
        new, new_ref = _resolve(self.new, new)
        if (old_ref, new_ref) in seen:
            return
        seen = seen | {(old_ref, new_ref)} if old_ref or new_ref else seen
        if not (isinstance(old, dict) and isinstance(new, dict)):
            if _extra(old) != _extra(new):
                self._changed(where, f"schema {_short(old)} -> {_short(new)}")
            return
        for keyword, read in (("type", _types), ("format", _plain), ("enum", _plain)):
            if read(old.get(keyword)) != read(new.get(keyword)):
                self._changed(
                    where, f"{keyword} {_short(old.get(keyword))} -> {_short(new.get(keyword))}"
                )
        old_required, new_required = set(old.get("required") or []), set(new.get("required") or [])
        for name in sorted(new_required - old_required):
            self._changed(f"{where}.{name}", "now required")
        for name in sorted(old_required - new_required):
            self._changed(f"{where}.{name}", "no longer required")
        old_props, new_props = old.get("properties") or {}, new.get("properties") or {}
        for name in _union(old_props, new_props):
            if name not in new_props:
                self.changes.append(Change(REMOVED, f"{where}.{name}", "field"))
            elif name not in old_props:
                kind = _short(_resolve(self.new, new_props[name])[0].get("type"))
                self.changes.append(Change(ADDED, f"{where}.{name}", f"field ({kind})"))
            else:
                self._schema(f"{where}.{name}", old_props[name], new_props[name], seen)
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_extra, dict) and isinstance(new_extra, dict) and old_extra and new_extra:
            self._schema(f"{where}.*", old_extra, new_extra, seen)
        elif _extra(old_extra) != _extra(new_extra):
            self._changed(
                where,
                f"additionalProperties {_short(_extra(old_extra))} -> {_short(_extra(new_extra))}",
            )
        if "items" in old or "items" in new:
            self._schema(f"{where}[]", old.get("items", True), new.get("items", True), seen)
        for keyword in _COMBINATORS:
            before, after = old.get(keyword) or [], new.get(keyword) or []
            if len(before) != len(after):
                self._changed(where, f"{keyword} has {len(before)} -> {len(after)} schemas")
            for index, (left, right) in enumerate(zip(before, after, strict=False)):
                self._schema(f"{where} ({keyword}[{index}])", left, right, seen)


def _resolve(doc: dict[str, Any], node: Any) -> tuple[Any, str | None]:
    """Follow local `$ref`s to the node they name; returns (node, first ref or None)."""
    first = None
    for _ in range(_MAX_REF_HOPS):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node, first
        ref = node["$ref"]
        first = first or ref
        if not ref.startswith("#"):
            return {"$ref": ref}, first  # external: compared by its address only
        node = doc
        for part in ref[1:].lstrip("/").split("/") if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, dict) else None
    return node, first


def _union(old: dict, new: dict) -> list:
    """Keys of both mappings: the old ones in order, then the new ones."""
    return list(dict.fromkeys([*old, *new]))


def _get(doc: dict[str, Any], *keys: str) -> Any:
    node: Any = doc
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _types(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(sorted(value)) if isinstance(value, list) else (str(value),)


def _plain(value: Any) -> Any:
    return repr(value)


def _extra(value: Any) -> Any:
    """A schema that may be a boolean: absent and `{}` both mean `true` (anything goes)."""
    return True if value is None or value == {} else value


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]" if value else "(none)"
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
