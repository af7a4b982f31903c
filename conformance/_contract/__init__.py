"""The contract as knowledge: the spec model, our readings of its open points, the canary's
metering, and drift between two documents. No I/O beyond reading an operator's YAML file; no
HTTP client.
"""
