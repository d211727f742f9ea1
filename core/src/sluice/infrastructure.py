"""Infrastructure: the whole contract of an infrastructure plugin, and block classes by name.

A plugin that adds an infrastructure type (``register_infrastructure_blocks``) imports from here only:

- ``InfrastructureBlock`` (the base: ``run``, ``kill``, ``preview``; ``write_output`` streams the
  engine's output; ``default_command`` starts the engine) and ``InfrastructureResult`` (how it ended);
- ``SubprocessInfrastructure``: a ready base running the engine as a local process (set a slug);
- ``engine_command`` (the engine run by an interpreter; the agent's own by default) and
  ``default_engine_image`` (the image a container block defaults to);
- ``LIFELINE_FD_VARIABLE``, ``KILL_GRACE_SECONDS`` (see ``sluice.lifeline``) and
  ``process_group_alive``;
- ``Block`` and ``BlockReference`` for supporting blocks (a registry login, a cluster config),
  ``looks_secret`` and ``MASK`` to mask secrets in previews;
- the errors ``ConfigurationError``, ``InfrastructureNotAvailable``, ``InfrastructureNotFound``;
- ``infrastructure_block_types()`` and ``supporting_block_types()``: the installed types by slug.

Users import registered classes by class name: ``from sluice.infrastructure import Process`` looks
the name up, on first use, among the infrastructure types the installed plugins register (or a block
class one of their modules defines, such as ``DockerRegistry``). A name no installed plugin provides
raises ``UnknownInfrastructureClassError`` (an ``ImportError``).
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sluice.blocks import (
    MASK,
    Block,
    BlockReference,
    InfrastructureBlock,
    InfrastructureResult,
    engine_command,
    looks_secret,
)
from sluice.errors import ConfigurationError, InfrastructureNotAvailable, InfrastructureNotFound, UnknownSlugError
from sluice.lifeline import KILL_GRACE_SECONDS, LIFELINE_FD_VARIABLE
from sluice.subprocess_infrastructure import SubprocessInfrastructure, process_group_alive

__all__ = [
    "KILL_GRACE_SECONDS",
    "LIFELINE_FD_VARIABLE",
    "MASK",
    "Block",
    "BlockReference",
    "ConfigurationError",
    "InfrastructureBlock",
    "InfrastructureNotAvailable",
    "InfrastructureNotFound",
    "InfrastructureResult",
    "SubprocessInfrastructure",
    "UnknownInfrastructureClassError",
    "default_engine_image",
    "engine_command",
    "infrastructure_block_types",
    "looks_secret",
    "process_group_alive",
    "supporting_block_types",
]

#: The repository of the images Sluice publishes: Python plus Sluice and its standard plugins.
_IMAGE_REPOSITORY = "sluice/sluice"


def default_engine_image() -> str:
    """The image matching this interpreter and Sluice version: ``sluice/sluice:0.1.0-python3.11``.

    Container blocks default to it so a flow run's engine speaks the agent's API version.
    """
    try:
        sluice_version = version("sluice")
    except PackageNotFoundError:  # running from a source tree that was not installed
        sluice_version = "latest"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"{_IMAGE_REPOSITORY}:{sluice_version}-python{python}"


def infrastructure_block_types() -> dict[str, type[InfrastructureBlock]]:
    """Every installed infrastructure block type by slug (a slug two plugins claim is left out)."""
    from sluice.plugins import get_registry

    return {entry.slug: entry.cls for entry in get_registry("infrastructure").entries()}


def supporting_block_types() -> dict[str, type[Block]]:
    """Every installed supporting block type by slug: the plain blocks storage and infrastructure
    plugins register besides their own (a registry login, a cluster config)."""
    from sluice.plugins import get_registry

    return {entry.slug: entry.cls for entry in get_registry("supporting").entries()}


def _registered_classes() -> list[type[Any]]:
    return list(infrastructure_block_types().values())


def _find_infrastructure_class(name: str) -> type[Block] | None:
    """The registered infrastructure class called ``name``, or a block class its module defines."""
    classes = _registered_classes()
    for cls in classes:
        if cls.__name__ == name:
            return cls
    for cls in classes:
        candidate = getattr(sys.modules.get(cls.__module__), name, None)
        if isinstance(candidate, type) and issubclass(candidate, Block):
            return candidate
    return None


def __getattr__(name: str) -> Any:
    """Find the registered infrastructure block class called ``name``."""
    if name.startswith("_"):
        raise AttributeError(name)
    found = _find_infrastructure_class(name)
    if found is not None:
        return found
    known = ", ".join(sorted(cls.__name__ for cls in _registered_classes())) or "none"
    raise UnknownInfrastructureClassError(
        f"No infrastructure block class {name!r} is installed (available: {known}); install a plugin that "
        "provides it (see `sluice plugins ls`)."
    )


class UnknownInfrastructureClassError(UnknownSlugError, ImportError):
    """An infrastructure block class that no installed plugin provides.

    An ``ImportError`` (not an ``AttributeError``) so that ``from sluice.infrastructure import X``
    shows this message rather than Python's generic "cannot import name".
    """


def __dir__() -> list[str]:
    return sorted({*globals(), *(cls.__name__ for cls in _registered_classes())})
