"""Build hook: a wheel carries the repository's `specs/` and `fixtures/` inside the package.

They stay the only copies in the repository (top level); in a wheel they become
`conformance/_data/specs` and `conformance/_data/fixtures`, where `conformance/resources.py`
finds them. Only the standard wheel gets them: an editable install reads the checkout's own
directories, and a copy in site-packages would only go stale.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

DATA = {"specs": "conformance/_data/specs", "fixtures": "conformance/_data/fixtures"}


class DataBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "standard":
            build_data["force_include"].update(DATA)
