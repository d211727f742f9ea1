"""The plugin-author docs must document every hook under its exact signature."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from sluice import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
HEADING = re.compile(r"^### `(\w+)\(([^)]*)\)`$", re.MULTILINE)


def hookspec_signatures() -> dict[str, list[str]]:
    """Every hookspec's name and parameter names, read from the code."""
    return {
        name: list(inspect.signature(function).parameters)
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("register_")
    }


def documented_signatures() -> dict[str, list[str]]:
    """Every hook heading in docs/plugins.md, with its parameter names."""
    return {
        name: [part.strip() for part in params.split(",") if part.strip()]
        for name, params in HEADING.findall(DOCS.read_text())
    }


def test_there_are_eight_hooks() -> None:
    assert sorted(hookspec_signatures()) == [
        "register_commands",
        "register_infrastructure_blocks",
        "register_queue_backends",
        "register_routes",
        "register_schedules",
        "register_services",
        "register_storage_blocks",
        "register_task_runners",
    ]


def test_every_hook_is_documented_with_its_signature() -> None:
    assert documented_signatures() == hookspec_signatures()


def test_every_hookspec_has_a_contract_docstring() -> None:
    for name in hookspec_signatures():
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert ":param" in doc and ":returns:" in doc and "Called" in doc, name
