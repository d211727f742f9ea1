"""Typed exceptions shared by every part of Sluice.

Each error carries a message that says what went wrong, where, and how to fix it. The CLI prints
``str(error)`` on one line and exits non-zero; the API turns them into 4xx answers.
"""

from __future__ import annotations


class SluiceError(Exception):
    """Base class of every error Sluice raises on purpose."""


class PluginError(SluiceError):
    """A plugin could not be loaded or registered something invalid."""


class DuplicateSlugError(PluginError, ValueError):
    """Two plugins registered a type under the same slug."""


class UnknownSlugError(PluginError, LookupError):
    """No installed plugin provides the requested slug."""


class ConfigurationError(SluiceError, ValueError):
    """A setting, a file or an argument is invalid."""


class ObjectNotFound(SluiceError, LookupError):
    """An object that was asked for by name or id does not exist."""


class ObjectAlreadyExists(SluiceError, ValueError):
    """An object with the same unique name already exists."""
