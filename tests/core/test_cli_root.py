"""The CLI root: version, help, plugins ls, config view, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sluice import __version__

SLUICE = str(Path(sys.executable).with_name("sluice"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``sluice`` console script."""
    return subprocess.run([SLUICE, *args], capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"sluice {__version__}"


def test_help_lists_the_command_groups() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "plugins" in result.stdout and "config" in result.stdout


def test_plugins_ls_json_lists_the_three_schedule_plugins() -> None:
    result = run("plugins", "ls", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {plugin["distribution"]: plugin for plugin in json.loads(result.stdout)}
    for name in ("cron", "interval", "rrule"):
        assert plugins[f"sluice-{name}"]["slugs"] == {"schedule": [name]}
        assert plugins[f"sluice-{name}"]["hooks"] == ["register_schedules"]
        assert plugins[f"sluice-{name}"]["error"] is None


def test_plugins_ls_table(sluice_cli) -> None:  # type: ignore[no-untyped-def]
    result = sluice_cli("plugins", "ls")
    assert result.exit_code == 0
    assert "sluice-cron" in result.output


def test_an_unknown_command_is_a_one_line_error_without_traceback() -> None:
    result = run("no-such-command")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "No such command" in result.stderr


def test_config_view_shows_settings_and_masks_secrets() -> None:
    result = run("config", "view", "--json", env={"SLUICE_API_KEY": "s3cr3t", "SLUICE_API_URL": "http://x/api"})
    assert result.returncode == 0, result.stderr
    rows = {row["setting"]: row for row in json.loads(result.stdout)}
    assert rows["SLUICE_API_URL"] == {"setting": "SLUICE_API_URL", "value": "http://x/api", "source": "env"}
    assert rows["SLUICE_API_KEY"]["value"] == "********"
    assert "s3cr3t" not in result.stdout
    assert rows["SLUICE_HOME"]["source"] == "env"
