"""Broken servers: the fault catalogue, built on the mock's layers (`_layers`)."""
