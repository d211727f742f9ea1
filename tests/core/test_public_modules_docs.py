"""docs/plugins.md lists every public name of each per-kind module, in that module's section."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from tests.public_modules import PUBLIC_MODULES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"

#: The per-kind modules whose ``__all__`` is their contract (``sluice.queues`` is documented too).
KIND_MODULES = (
    "sluice.storage",
    "sluice.infrastructure",
    "sluice.schedules",
    "sluice.services",
    "sluice.routes",
    "sluice.task_runners",
)


def section_of(module: str) -> str:
    """The text of the ``### <Kind>: `module` `` section of docs/plugins.md."""
    text = DOCS.read_text()
    found = re.search(rf"^### [^\n]*`{re.escape(module)}`\n(.*?)(?=^### |^## )", text, re.MULTILINE | re.DOTALL)
    assert found, f"docs/plugins.md has no section for {module}"
    return found.group(1)


@pytest.mark.parametrize("module", KIND_MODULES)
def test_every_public_name_is_listed_in_its_module_s_section(module: str) -> None:
    section = section_of(module)
    missing = [name for name in importlib.import_module(module).__all__ if f"`{name}`" not in section]
    assert missing == []


def test_every_public_module_is_named_in_the_docs() -> None:
    text = DOCS.read_text()
    assert [module for module in PUBLIC_MODULES if f"`{module}`" not in text] == []
