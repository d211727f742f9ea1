"""The modules of Sluice a plugin may import: the one place the rule is written down.

``tests/core/test_plugin_imports.py`` checks every first-party plugin against it (an AST walk), and
``docs/plugins.md`` lists the public names of each module (``tests/core/test_public_modules_docs.py``).
An import-linter contract can be built from the same two lists: forbid, from the packages in
``PLUGIN_FOLDERS``, every ``sluice`` module that ``is_public`` refuses.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The public per-kind modules, plus what any plugin may use: the hooks, errors, API models (with its
#: submodules: ``sluice.schemas.agents``), the API client and the settings.
PUBLIC_MODULES: tuple[str, ...] = (
    "sluice.storage",
    "sluice.infrastructure",
    "sluice.schedules",
    "sluice.queues",
    "sluice.services",
    "sluice.routes",
    "sluice.task_runners",
    "sluice.hookspecs",
    "sluice.errors",
    "sluice.schemas",
    "sluice.client",
    "sluice.settings",
)
#: Public packages whose submodules are public too.
PUBLIC_PACKAGES: tuple[str, ...] = ("sluice.schemas",)
#: ``sluice`` itself: ``from sluice import flow`` (its lazily resolved names, not its submodules).
PUBLIC_ROOT = "sluice"

#: The folders holding first-party plugins, one distribution per sub-folder.
PLUGIN_FOLDERS: tuple[str, ...] = ("plugins", "storage_plugins", "infra_plugins", "schedule_plugins")
#: Plugins not held to the rule yet, with the reason (say when it ends).
NOT_YET_CHECKED: dict[str, str] = {}


def is_public(module: str) -> bool:
    """True for a ``sluice`` module a plugin may import."""
    if module == PUBLIC_ROOT or module in PUBLIC_MODULES:
        return True
    return any(module.startswith(f"{package}.") for package in PUBLIC_PACKAGES)


def plugin_folders() -> list[Path]:
    """Every first-party plugin's folder (``storage_plugins/s3``…), those not yet checked left out."""
    return sorted(
        folder
        for parent in PLUGIN_FOLDERS
        for folder in (ROOT / parent).iterdir()
        if (folder / "pyproject.toml").is_file() and folder.relative_to(ROOT).as_posix() not in NOT_YET_CHECKED
    )
