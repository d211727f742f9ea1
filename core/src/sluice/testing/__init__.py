"""Helpers for testing Sluice and Sluice plugins; see ``sluice.testing.pytest_plugin``."""
