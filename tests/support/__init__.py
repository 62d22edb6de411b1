"""Helpers shared by the test packages: databases, Redis prefixes, polling (tests/support/*.py)."""
