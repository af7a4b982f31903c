"""The core: plain data and helpers every layer shares (exchanges and their masking, the two error
families, the per-test trace, dates). Imports nothing of ours.
"""
