"""A queue backend written out of tree from the docs alone: the example of docs/plugins.md
(``register_queue_backends``), made into a module of its own, uses nothing from Sluice but
``sluice.queues`` and ``sluice.hookspecs``, and — registered on a fresh plugin manager — passes the whole
queue-backend contract kit, on SQLite and PostgreSQL.

It decides in Python which runs to hand out (from the store's reads) and moves them with the store's
conditional step; one claim at a time per process keeps its counts exact for one server process, which
is what the kit runs.
"""

from __future__ import annotations

import ast
import re
import types
from pathlib import Path
from typing import Any

import pytest

from sluice.testing.queue_backends import QueueBackendContract

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _example_source() -> str:
    """The Python block of docs/plugins.md that defines the ``small`` queue backend."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    found = [block for block in blocks if "class SmallQueues(QueueBackend)" in block]
    assert len(found) == 1, "docs/plugins.md must show the SmallQueues example once"
    return found[0]


def _example_module() -> types.ModuleType:
    """The docs' example as the module a third party would publish (``sluice_small_queues``)."""
    module = types.ModuleType("sluice_small_queues")
    exec(compile(_example_source(), "docs/plugins.md", "exec"), module.__dict__)
    return module


class TestTheDocumentedQueueBackend(QueueBackendContract):
    """The contract kit, run on the example of the docs."""

    backend_slug = "small"

    @pytest.fixture
    def queue_backend_plugin(self) -> Any:
        """The docs' example, as a plugin module."""
        return _example_module()

    @pytest.fixture
    def queue_contract_database_url(self, database_url: str) -> str:
        """SQLite and PostgreSQL."""
        return database_url


def test_the_documented_backend_imports_nothing_from_sluice_but_the_public_modules() -> None:
    tree = ast.parse(_example_source())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert {name for name in imported if name.split(".")[0] == "sluice"} == {"sluice.hookspecs", "sluice.queues"}
