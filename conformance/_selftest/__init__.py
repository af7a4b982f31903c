"""The kill matrix (`python -m conformance.selftest`): the real suite run against the correct mock,
every variant and every fault; planned, run, cached and reported.
"""
