"""Storage block classes by name: ``from sluice.filesystems import S3`` works when a plugin registers a
storage block class called ``S3``.

Nothing is defined here: a name is looked up, on first use, among the storage block types the
installed plugins register, by class name. An unknown name lists the available ones. Plugin authors
import from ``sluice.storage`` instead: this module is for users of the blocks.
"""

from __future__ import annotations

from typing import Any

from sluice.errors import UnknownSlugError


def available() -> dict[str, type[Any]]:
    """Every registered storage block class by class name."""
    from sluice.plugins import get_registry

    return {entry.cls.__name__: entry.cls for entry in get_registry("storage").entries()}


def __getattr__(name: str) -> Any:
    """Find the registered storage block class called ``name``."""
    if name.startswith("_"):
        raise AttributeError(name)
    classes = available()
    if name in classes:
        return classes[name]
    known = ", ".join(sorted(classes)) or "none"
    raise UnknownStorageClassError(
        f"No storage block class {name!r} is installed (available: {known}); install a plugin that provides it "
        "(see `sluice plugins ls`)."
    )


class UnknownStorageClassError(UnknownSlugError, ImportError):
    """A storage block class that no installed plugin provides.

    An ``ImportError`` (and not an ``AttributeError``) so that ``from sluice.filesystems import X``
    shows this message rather than Python's generic "cannot import name".
    """


def __dir__() -> list[str]:
    return sorted([*globals(), *available()])
