"""The contract as knowledge: the spec model, our readings of its open points, the canary's
metering, drift between two documents, and the requirements table. No I/O beyond reading an
operator's YAML file and the package's own table; no HTTP client.
"""
