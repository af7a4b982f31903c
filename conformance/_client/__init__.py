"""The client: the suite's one HTTP transport (budget, rate limit, retries, the read-only guard)
and the wire under it.
"""
