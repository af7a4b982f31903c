"""Reports: test results grouped by root cause, and the run's summary rendered for the terminal,
summary.json, summary.md and summary.html. Pure functions of data; no HTTP client.
"""
