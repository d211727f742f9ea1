"""Sluice: turn a Python flow into a deployment and run it anywhere.

Importing ``sluice`` is cheap: it loads no plugin, opens no database and builds no CLI.
The public names below are resolved on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY_NAMES = {
    "flow": "sluice.flows",
    "Flow": "sluice.flows",
    "task": "sluice.tasks",
    "get_run_logger": "sluice.logging",
}

if TYPE_CHECKING:  # pragma: no cover
    from sluice.flows import Flow, flow
    from sluice.logging import get_run_logger
    from sluice.tasks import task


def __getattr__(name: str) -> Any:
    """Resolve the public names lazily so that ``import sluice`` stays fast."""
    module_name = _LAZY_NAMES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'sluice' has no attribute {name!r}")
    return getattr(import_module(module_name), name)


__all__ = ["Flow", "__version__", "flow", "get_run_logger", "task"]
