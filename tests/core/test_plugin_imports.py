"""First-party plugins import only Sluice's public modules (tests/public_modules.py), so they prove a
third party can write the same plugin (issue 13, item 1)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from tests.public_modules import NOT_YET_CHECKED, ROOT, is_public, plugin_folders


def sluice_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``sluice`` module the file imports (``from sluice import x`` counts
    as ``sluice.x`` when ``x`` is a submodule)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "sluice"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "sluice":
                continue
            found.append((node.lineno, node.module))
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if importlib.util.find_spec(node.module) and _is_module(submodule):
                    found.append((node.lineno, submodule))
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def private_imports(folder: Path) -> list[str]:
    """``file:line imports module`` for each non-public ``sluice`` module a plugin's sources import."""
    return [
        f"{path.relative_to(folder.parent).as_posix()}:{line} imports {module}"
        for path in sorted(folder.glob("src/**/*.py"))
        for line, module in sluice_imports(path)
        if not is_public(module)
    ]


@pytest.mark.parametrize("folder", plugin_folders(), ids=lambda folder: folder.relative_to(ROOT).as_posix())
def test_a_first_party_plugin_imports_only_public_modules(folder: Path) -> None:
    assert private_imports(folder) == []


def test_every_plugin_folder_is_checked_but_the_listed_exceptions() -> None:
    checked = {folder.relative_to(ROOT).as_posix() for folder in plugin_folders()}
    assert len(checked) + len(NOT_YET_CHECKED) == len(list(ROOT.glob("*plugins/*/pyproject.toml")))
    assert {"storage_plugins/s3", "infra_plugins/process", "schedule_plugins/cron", "plugins/ui"} <= checked


def test_the_check_finds_private_imports(tmp_path: Path) -> None:
    source = tmp_path / "src" / "acme" / "__init__.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "from sluice import flow\n"
        "from sluice.storage import FsspecStorageBlock\n"
        "from sluice.schemas.agents import Agent\n"
        "import sluice.server.encryption\n"
        "from sluice import plugins\n"
        "def later():\n"
        "    from sluice.blocks import Block\n"
    )
    found = [line.split(" imports ")[1] for line in private_imports(tmp_path)]
    assert found == ["sluice.server.encryption", "sluice.plugins", "sluice.blocks"]
