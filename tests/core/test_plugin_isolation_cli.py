"""A broken plugin installed for real: the CLI and the server keep working and report it (issue 13, item 6).

Every plugin of ``tests.plugin_installs.BROKEN_PLUGINS`` is installed in one folder put on the
``PYTHONPATH`` of real ``sluice`` subprocesses, beside every first-party plugin.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import SLUICE, ServerProcess, wait_until
from tests.plugin_installs import environment_with, install_broken_plugins

#: What each broken plugin's line in ``plugins ls --json`` says.
EXPECTED_ERRORS = {
    "fake-sluice-unimportable": "ModuleNotFoundError",
    "fake-sluice-bad-commands": "register_commands raised RuntimeError: commands boom",
    "fake-sluice-bad-routes": "register_routes raised RuntimeError: routes boom",
    "fake-sluice-misnamed-argument": "'application' is not an argument of register_commands",
    "fake-sluice-misspelled-hook": "unknown hook 'register_storage_block' (did you mean 'register_storage_blocks'?)",
    "fake-sluice-bad-schedules": "register_schedules raised ValueError: schedules boom",
    "fake-sluice-bad-services": "register_services raised RuntimeError: services boom",
    "fake-sluice-abstract": "HalfDone is abstract",
    "fake-sluice-rival-cron": "schedule type 'cron' is also registered by sluice-cron",
}

#: The plugins whose breakage is known as soon as the CLI is built (the others when their kind is needed).
BROKEN_AT_START = (
    "fake-sluice-unimportable",
    "fake-sluice-bad-commands",
    "fake-sluice-misnamed-argument",
    "fake-sluice-misspelled-hook",
)


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with every broken plugin installed."""
    return install_broken_plugins(tmp_path_factory.mktemp("broken-site"))


def sluice(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``sluice *args`` with the broken plugins installed."""
    return subprocess.run(
        [SLUICE, *args], capture_output=True, text=True, env=environment_with(site, **env), timeout=120
    )


def test_help_works_and_warns_one_line_per_broken_plugin(broken_site: Path) -> None:
    result = sluice(broken_site, "--help")
    assert result.returncode == 0, result.stderr
    assert "deployment" in result.stdout and "work-queue" in result.stdout
    assert "half-added" not in result.stdout  # what the failing hook added before it raised is gone
    lines = result.stderr.splitlines()
    for distribution in BROKEN_AT_START:
        [line] = [line for line in lines if distribution in line]
        assert line.startswith("Warning: plugin") and "sluice plugins ls" in line
    assert "Traceback" not in result.stderr


def test_plugins_ls_json_lists_each_broken_plugin_with_its_error(broken_site: Path) -> None:
    result = sluice(broken_site, "plugins", "ls", "--json")
    assert result.returncode == 0, result.stderr
    listed = {plugin["distribution"]: plugin for plugin in json.loads(result.stdout)}
    for distribution, error in EXPECTED_ERRORS.items():
        assert error in (listed[distribution]["error"] or ""), listed[distribution]
        assert listed[distribution]["status"] in ("broken", "not loaded")
    assert listed["sluice-cron"]["status"] == "broken"  # its slug is claimed twice: both are flagged
    assert listed["sluice-interval"] == {**listed["sluice-interval"], "status": "ok", "error": None}
    assert listed["sluice-interval"]["slugs"] == {"schedule": ["interval"]}


def test_plugins_ls_table_shows_the_errors(broken_site: Path) -> None:
    result = sluice(broken_site, "plugins", "ls", COLUMNS="400")
    assert result.returncode == 0, result.stderr
    assert "commands boom" in result.stdout and "not loaded" in result.stdout


def test_commands_that_need_no_broken_plugin_work(broken_site: Path) -> None:
    assert sluice(broken_site, "work-queue", "ls", "--json").returncode == 0
    block_types = sluice(broken_site, "block", "type", "ls", "--json")
    assert block_types.returncode == 0, block_types.stderr
    slugs = {row["slug"] for row in json.loads(block_types.stdout)}
    assert "local-file-system" in slugs and "fake-half-done" not in slugs


def test_the_server_and_the_scheduler_run_with_broken_plugins(broken_site: Path, tmp_path: Path) -> None:
    env = environment_with(broken_site, SLUICE_HOME=str(tmp_path / "home"), SLUICE_SCHEDULER_LOOP_SECONDS="0.2")
    server = ServerProcess(env, tmp_path / "server.log").start()
    try:
        base = server.api_url.removesuffix("/api")
        assert httpx.get(f"{base}/half-added").status_code == 404  # the failing hook's route was removed
        assert httpx.get(f"{base}/").status_code == 200  # the UI's routes are there
        flow = httpx.post(f"{server.api_url}/flows/", json={"name": "etl"}).json()
        body = {"name": "every-minute", "flow_id": flow["id"], "schedule": {"type": "interval", "interval": 60}}
        deployment = httpx.post(f"{server.api_url}/deployments/", json=body)
        assert deployment.status_code == 201, deployment.text

        def scheduled_runs() -> list:
            filter_body = {"deployment_ids": [deployment.json()["id"]]}
            response = httpx.post(f"{server.api_url}/flow_runs/filter", json=filter_body)
            return response.json() if response.status_code == 200 else []

        wait_until(scheduled_runs, "the scheduler to create the interval deployment's runs", timeout=60)
    finally:
        server.stop()
    output = server.output()
    assert "fake-sluice-bad-routes" in output and "routes boom" in output
