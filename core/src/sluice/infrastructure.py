"""Infrastructure block classes, importable by class name: ``from sluice.infrastructure import Process``.

Nothing is imported up front: the first lookup of a name asks the plugin manager for the registered
infrastructure types and returns the one whose class is called that (or a block class that one of
them uses, such as ``DockerRegistry``). A name no installed plugin provides raises
``UnknownInfrastructureClassError`` (an ``ImportError``) saying which package to install.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sluice.blocks import Block, InfrastructureBlock, InfrastructureResult
from sluice.errors import UnknownSlugError
from sluice.lifeline import KILL_GRACE_SECONDS, LIFELINE_FD_VARIABLE

__all__ = [
    "KILL_GRACE_SECONDS",
    "LIFELINE_FD_VARIABLE",
    "InfrastructureBlock",
    "InfrastructureResult",
    "default_engine_image",
]

# LIFELINE_FD_VARIABLE and KILL_GRACE_SECONDS: see ``sluice.lifeline``.

#: The repository of the images Sluice publishes: Python plus Sluice and its standard plugins.
IMAGE_REPOSITORY = "sluice/sluice"

#: First-party classes and the distribution that provides each, for the "install X" message.
PACKAGE_FOR_CLASS: dict[str, str] = {
    "Process": "sluice-process",
    "DockerContainer": "sluice-docker",
    "DockerRegistry": "sluice-docker",
    "KubernetesJob": "sluice-kubernetes",
    "KubernetesClusterConfig": "sluice-kubernetes",
}


def default_engine_image() -> str:
    """The image matching this interpreter and Sluice version: ``sluice/sluice:0.1.0-python3.11``.

    Container blocks default to it so a flow run's engine speaks the agent's API version.
    """
    try:
        sluice_version = version("sluice")
    except PackageNotFoundError:  # running from a source tree that was not installed
        sluice_version = "latest"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"{IMAGE_REPOSITORY}:{sluice_version}-python{python}"


def _registered_classes() -> list[type[Any]]:
    from sluice.plugins import get_registry

    return [entry.cls for entry in get_registry("infrastructure").entries()]


def find_infrastructure_class(name: str) -> type[Block] | None:
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
    found = find_infrastructure_class(name)
    if found is not None:
        return found
    known = ", ".join(sorted(cls.__name__ for cls in _registered_classes())) or "none"
    package = PACKAGE_FOR_CLASS.get(name)
    hint = f" Install it with `pip install {package}`." if package else ""
    raise UnknownInfrastructureClassError(
        f"No infrastructure block class {name!r} is installed (available: {known}).{hint}"
    )


class UnknownInfrastructureClassError(UnknownSlugError, ImportError):
    """An infrastructure block class that no installed plugin provides.

    An ``ImportError`` (not an ``AttributeError``) so that ``from sluice.infrastructure import X``
    shows this message rather than Python's generic "cannot import name".
    """


def __dir__() -> list[str]:
    return sorted({*globals(), *(cls.__name__ for cls in _registered_classes())})
