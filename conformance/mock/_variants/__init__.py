"""Correct servers that differ from the mock where the contract leaves room: the variant catalogue,
built on the mock's layers (`_layers`).
"""
