"""A YAML file an operator writes (the mock's fixtures, a canary's expected usage): read it,
and say in one line, naming the place, what is wrong with it.

Public, though small: the mock reads its fixtures with it and imports nothing private from
the suite; both only share how a file is read, not what it means.
"""

from __future__ import annotations

from collections.abc import Set
from pathlib import Path
from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Invalid(Exception):
    """A mistake in the file; the message says where."""


def read_yaml(path: str | Path) -> Any:
    """The document in `path`; `Invalid` if the file is missing, unreadable or not YAML."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Invalid("file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise Invalid(f"cannot be read ({type(exc).__name__})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise Invalid(f"not valid YAML{line}") from None
    except (ValueError, OverflowError) as exc:  # a timestamp that is no date (2026-02-30)
        raise Invalid(f"a value cannot be read ({exc})") from None


def mapping(
    raw: Any, where: str, *, required: Set[str], optional: Set[str] = frozenset()
) -> dict[str, Any]:
    """`raw` as a mapping with every `required` field and no field outside `optional`."""
    if not isinstance(raw, dict):
        raise Invalid(f"{where}: expected a mapping")
    unknown = sorted(str(key) for key in raw if key not in required and key not in optional)
    if unknown:
        raise Invalid(f"{where}: unknown field {unknown[0]!r}")
    missing = sorted(required - raw.keys())
    if missing:
        raise Invalid(f"{where}: missing field {missing[0]!r}")
    return raw


def items(raw: Any, where: str) -> list[Any]:
    """`raw` as a list."""
    if not isinstance(raw, list):
        raise Invalid(f"{where}: expected a list")
    return raw
