"""The run: settings from options, loading the spec, the session tests use, running ahead, the
schemathesis bridge, and the state the plugin's hooks keep. Imports no pytest: the plugin hands
in what it needs.
"""
