"""Fixtures of the chaos suite: a site of real processes per test, stopped at teardown."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.site import ChaosSite


@pytest.fixture
def site(tmp_path: Path) -> Iterator[ChaosSite]:
    """The test's processes, deployments and ledger; everything it started is stopped afterwards."""
    chaos = ChaosSite(tmp_path, dict(os.environ))
    try:
        yield chaos
    finally:
        chaos.close()


@pytest.fixture
def queue() -> str:
    """A work queue of the test's own."""
    return f"chaos-{uuid.uuid4().hex[:8]}"
