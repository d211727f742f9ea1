"""Sluice's own processes start without importing what they never use."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path


def imported_modules(args: list[str], env: dict[str, str]) -> set[str]:
    """The modules a ``python -X importtime`` run imported (from its report on stderr)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    return {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}


def test_the_engine_talks_to_the_api_without_importing_the_httpx_command_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SLUICE_HOME": str(tmp_path),
        "SLUICE_API_URL": "http://127.0.0.1:9/api",  # nothing listens…
        "SLUICE_ENGINE_START_TIMEOUT": "0",  # …and the engine does not wait for it to come up
        "SLUICE__FLOW_RUN_ID": str(uuid.uuid4()),
    }
    modules = imported_modules(["-m", "sluice.engine"], env)
    assert "httpx" in modules
    assert "rich.console" not in modules and "pygments" not in modules


def test_the_cli_talks_to_the_api_without_importing_the_httpx_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "SLUICE_HOME": str(tmp_path), "SLUICE_API_URL": "http://127.0.0.1:9/api"}
    sluice = str(Path(sys.executable).with_name("sluice"))
    modules = imported_modules([sluice, "deployment", "ls"], env)
    assert "httpx" in modules
    assert "pygments" not in modules
