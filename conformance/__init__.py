"""DCS conformance suite: pytest plugin, checks and the embedded mock DCS server."""
