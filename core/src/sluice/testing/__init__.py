"""Helpers for testing Sluice and Sluice plugins: the fixtures of ``sluice.testing.pytest_plugin``
and the contract kits, e.g. ``sluice.testing.queue_backends`` for queue backends."""
