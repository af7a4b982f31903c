"""Activates the suite's pytest plugin for `pytest conformance` (see conformance/plugin.py)."""

from conformance.plugin import *  # noqa: F403 (pytest finds hooks and fixtures by name)
