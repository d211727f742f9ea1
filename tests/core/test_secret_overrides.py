"""Secret-looking ``infra_overrides`` from the user's side, in-process on the embedded API: masked by
``deployment inspect`` and ``deployment ls --json``, kept by a load-and-apply round trip, and handed
in clear to the flow the agent starts (server/secret_overrides.py, agent_infrastructure.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sluice.agent import Agent
from sluice.cli import build_app
from sluice.client import get_client

FLOW = """import os
from sluice import flow


@flow(name="write-env")
def write_env(path: str, variable: str) -> None:
    with open(path, "w") as handle:
        handle.write(os.environ.get(variable, "<unset>"))
"""
TOKEN = "token-value-never-shown"


@pytest.fixture
def deployment(tmp_path: Path) -> Any:
    """``write-env/local`` (process infrastructure) with a secret and a plain env override, on queue ``q``."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "write_env.py").write_text(FLOW)
    with get_client() as client:
        flow = client.create_flow("write-env")
        return client.create_deployment(
            "local",
            flow.id,
            work_queue_name="q",
            path=str(tmp_path / "flows"),
            entrypoint="write_env.py:write_env",
            infrastructure={"type": "process", "stream_output": False},
            infra_overrides={"env.API_TOKEN": TOKEN, "env.GREETING": "hello"},
        )


def _sluice(*args: str) -> str:
    result = CliRunner().invoke(build_app(), list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_deployment_inspect_and_ls_show_a_secret_override_masked(deployment: Any) -> None:
    inspected = json.loads(_sluice("deployment", "inspect", "write-env/local", "--json"))
    listed = json.loads(_sluice("deployment", "ls", "--json"))
    shown = _sluice("deployment", "inspect", "write-env/local")

    expected = {"env.API_TOKEN": "********", "env.GREETING": "hello"}
    assert inspected["infra_overrides"] == expected
    assert listed[0]["infra_overrides"] == expected
    assert TOKEN not in shown


def test_the_agent_starts_the_flow_with_the_secret_value(deployment: Any, tmp_path: Path) -> None:
    output = tmp_path / "token.txt"
    with get_client() as client:
        run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"path": str(output), "variable": "API_TOKEN"}
        )
    assert Agent(["q"], prefetch_seconds=0).start(run_once=True) == 1

    with get_client() as client:
        assert client.read_flow_run(run.id).state.type.value == "COMPLETED"
    assert output.read_text() == TOKEN


def test_overrides_loaded_changed_and_applied_keep_the_secret_value(deployment: Any) -> None:
    from sluice.deployments import Deployment

    loaded = Deployment(name="local", flow_name="write-env")
    assert loaded.load()
    assert loaded.infra_overrides["env.API_TOKEN"] == "********"
    loaded.infra_overrides = {**loaded.infra_overrides, "env.GREETING": "bye"}  # the mask is sent back
    loaded.apply(upload=False)

    with get_client() as client:
        stored = client.read_deployment(deployment.id, include_secrets=True)
    assert stored.infra_overrides == {"env.API_TOKEN": TOKEN, "env.GREETING": "bye"}
