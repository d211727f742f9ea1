"""Every installed block type's fields are documented: storage in storage.md, infrastructure in
infrastructure.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.plugins import PluginManager

DOCS = Path(__file__).resolve().parents[2] / "docs"
MANAGER = PluginManager()


@pytest.mark.parametrize(
    ("kind", "page", "slug"),
    [("storage", "storage.md", slug) for slug in MANAGER.registry("storage").slugs()]
    + [("infrastructure", "infrastructure.md", slug) for slug in MANAGER.registry("infrastructure").slugs()],
)
def test_every_field_of_every_block_type_is_documented(kind: str, page: str, slug: str) -> None:
    text = (DOCS / page).read_text()
    assert f"`{slug}`" in text, f"{slug} is not named in docs/{page}"
    cls = MANAGER.registry(kind).get(slug)
    missing = [name for name in cls.model_fields if f"`{name}`" not in text]
    assert missing == [], f"fields of {slug} missing from docs/{page}"
