"""Fixtures shared by the whole suite.

Every test runs with its own ``SLUICE_HOME`` (a temporary folder) and no ``SLUICE_API_URL``, so no
test touches the user's files or a server it did not start.

Tests that need a real server the suite starts itself (SeaweedFS, Azurite, Samba, Podman,
Chromium…) call ``require_service(name, reason)`` when it is missing: on a laptop the test skips with
the reason; in CI (``SLUICE_REQUIRE_SERVICES=1``) it fails, so a missing install step is caught.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def services_required() -> bool:
    """True in CI, where a missing test service is a failure rather than a skip."""
    return os.environ.get("SLUICE_REQUIRE_SERVICES", "") not in ("", "0", "false")


def require_service(name: str, reason: str) -> None:
    """Skip the test (laptop) or fail it (CI) because the service ``name`` is unavailable."""
    message = f"{name} unavailable: {reason}"
    if services_required():
        pytest.fail(f"{message} (SLUICE_REQUIRE_SERVICES=1: run `make services` to install it)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def isolated_sluice_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh ``SLUICE_HOME`` per test, and no API URL, key or database URL from the environment."""
    home = tmp_path_factory.mktemp("sluice-home")
    monkeypatch.setenv("SLUICE_HOME", str(home))
    for name in ("SLUICE_API_URL", "SLUICE_API_KEY", "SLUICE_DATABASE_URL", "SLUICE_LOAD_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    yield home
