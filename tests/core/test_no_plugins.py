"""The core with no plugin at all (``SLUICE_LOAD_PLUGINS=""``): what needs no kind works, what needs
one says which kind is missing and where to look, in one line (issue 13, item 4)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import SLUICE, ServerProcess

FLOW = """\
from sluice import flow


@flow
def say_hi() -> None:
    print("hi")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder holding one flow file."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "hi.py").write_text(FLOW)
    return tmp_path


def no_plugin_environment(home: Path) -> dict[str, str]:
    env = {**os.environ, "SLUICE_HOME": str(home), "SLUICE_LOAD_PLUGINS": ""}
    env.pop("SLUICE_DATABASE_URL", None)
    return env


def sluice(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``sluice *args`` in ``project`` with no plugin loaded."""
    env = no_plugin_environment(project / "home")
    return subprocess.run([SLUICE, *args], cwd=project, env=env, capture_output=True, text=True, timeout=120)


def test_help_and_plugins_ls_work_with_no_plugin(project: Path) -> None:
    help_result = sluice(project, "--help")
    assert help_result.returncode == 0 and "deployment" in help_result.stdout
    assert help_result.stderr == ""
    listed = sluice(project, "plugins", "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [plugin["distribution"] for plugin in json.loads(listed.stdout)] == ["sluice"]  # the core's own services


def test_work_queues_and_block_types_list_with_no_plugin(project: Path) -> None:
    queues = sluice(project, "work-queue", "ls", "--json")
    assert queues.returncode == 0, queues.stderr
    assert json.loads(queues.stdout) == []
    block_types = sluice(project, "block", "type", "ls", "--json")
    assert block_types.returncode == 0, block_types.stderr
    assert json.loads(block_types.stdout) == []


@pytest.mark.parametrize(
    ("options", "missing"),
    [
        (("--schedule", "{type: cron, cron: '0 9 * * *'}"), "Unknown schedule type 'cron'"),
        (("-sb", "s3/bucket"), "Unknown storage block type 's3'"),
        ((), "Unknown infrastructure block type 'process'"),
    ],
)
def test_what_needs_a_kind_says_which_one_is_missing_in_one_line(
    project: Path, options: tuple[str, ...], missing: str
) -> None:
    result = sluice(project, "deployment", "build", "flows/hi.py:say_hi", "-n", "hi", *options)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {missing}") and "installed: none; see `sluice plugins ls`" in line
    assert not list(project.glob("*.yaml"))  # nothing written


def test_the_default_infrastructure_says_it_is_the_default_and_how_to_change_it(project: Path) -> None:
    result = sluice(project, "deployment", "build", "flows/hi.py:say_hi", "-n", "hi")
    [line] = result.stderr.splitlines()
    assert "It is the default infrastructure type (SLUICE_DEFAULT_INFRASTRUCTURE)" in line
    assert "set it to an installed type, or give one with -i/-ib" in line


def test_a_schedule_shorthand_no_installed_type_declares_says_so_in_one_line(project: Path) -> None:
    result = sluice(project, "deployment", "build", "flows/hi.py:say_hi", "-n", "hi", "--cron", "0 9 * * *")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: no such option: --cron. If it gives a schedule, the schedule type that declares")
    assert "(installed schedule types: none; see `sluice plugins ls`)" in line
    assert not list(project.glob("*.yaml"))


def test_saving_a_block_of_a_missing_type_says_so_in_one_line(project: Path) -> None:
    result = sluice(project, "block", "create", "s3", "bucket")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: Unknown block type 's3'") and "see `sluice plugins ls`" in line


def test_the_server_starts_and_answers_with_no_plugin(tmp_path: Path) -> None:
    server = ServerProcess(no_plugin_environment(tmp_path / "home"), tmp_path / "server.log").start()
    try:
        assert httpx.get(f"{server.api_url}/health").json()["status"] == "ok"
        assert httpx.post(f"{server.api_url}/flows/", json={"name": "etl"}).status_code in (200, 201)
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.output()


def test_load_plugins_naming_a_plugin_that_is_not_installed_warns_on_one_line(project: Path) -> None:
    env = {**no_plugin_environment(project / "home"), "SLUICE_LOAD_PLUGINS": "sluice-crn"}
    result = subprocess.run([SLUICE, "--help"], cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    [line] = result.stderr.splitlines()
    assert line.startswith("Warning: SLUICE_LOAD_PLUGINS names sluice-crn, which is not installed")
    assert "(did you mean sluice-cron?)" in line and "installed: " in line
