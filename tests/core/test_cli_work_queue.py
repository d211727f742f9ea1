"""``sluice work-queue`` and ``sluice flow-run``, in-process on the embedded API."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from typer.testing import CliRunner

from sluice.cli import build_app
from sluice.client import get_client


def sluice(*args: str) -> Any:
    """Run the CLI in-process; the Click result (stdout and stderr apart)."""
    return CliRunner().invoke(build_app(), list(args), catch_exceptions=False)


@pytest.fixture
def scheduled_run() -> Any:
    """A SCHEDULED run of the deployment ``etl/nightly`` in the queue ``etl``."""
    with get_client() as client:
        flow = client.create_flow("etl")
        deployment = client.create_deployment("nightly", flow.id, work_queue_name="etl")
        return client.create_flow_run_from_deployment(deployment.id)


def test_create_then_ls_and_inspect_show_the_queue() -> None:
    created = sluice("work-queue", "create", "reports", "--limit", "3", "--description", "daily reports")
    assert created.exit_code == 0 and "Created work queue 'reports'" in created.stdout
    listed = json.loads(sluice("work-queue", "ls", "--json").stdout)
    assert [(q["name"], q["concurrency_limit"], q["is_paused"]) for q in listed] == [("reports", 3, False)]
    inspected = json.loads(sluice("work-queue", "inspect", "reports", "--json").stdout)
    assert inspected["description"] == "daily reports"
    assert inspected["runs"] == {"SCHEDULED": 0, "PENDING": 0, "RUNNING": 0}
    assert "reports" in sluice("work-queue", "ls").stdout


def test_pause_resume_and_limits_change_the_queue() -> None:
    sluice("work-queue", "create", "reports")
    assert "Paused" in sluice("work-queue", "pause", "reports").stdout
    assert json.loads(sluice("work-queue", "inspect", "reports", "--json").stdout)["is_paused"] is True
    sluice("work-queue", "resume", "reports")
    sluice("work-queue", "set-concurrency-limit", "reports", "2")
    queue = json.loads(sluice("work-queue", "inspect", "reports", "--json").stdout)
    assert (queue["is_paused"], queue["concurrency_limit"]) == (False, 2)
    sluice("work-queue", "clear-concurrency-limit", "reports")
    assert json.loads(sluice("work-queue", "inspect", "reports", "--json").stdout)["concurrency_limit"] is None


def test_a_legacy_tag_queue_keeps_its_tags() -> None:
    sluice("work-queue", "create", "legacy", "--tag", "etl", "--tag", "nightly")
    assert json.loads(sluice("work-queue", "inspect", "legacy", "--json").stdout)["filter"] == ["etl", "nightly"]


def test_delete_removes_the_queue() -> None:
    sluice("work-queue", "create", "reports")
    assert sluice("work-queue", "delete", "reports").exit_code == 0
    assert json.loads(sluice("work-queue", "ls", "--json").stdout) == []


@pytest.mark.parametrize("command", ["inspect", "pause", "resume", "delete", "clear-concurrency-limit"])
def test_an_unknown_queue_is_one_line_error(command: str) -> None:
    result = sluice("work-queue", command, "missing")
    assert result.exit_code == 1
    assert result.stderr == "Error: work queue 'missing' not found; see `sluice work-queue ls`\n"


def test_creating_a_queue_twice_is_one_line_error() -> None:
    sluice("work-queue", "create", "reports")
    result = sluice("work-queue", "create", "reports")
    assert result.exit_code == 1 and result.stderr == "Error: work queue 'reports' already exists\n"


def test_flow_run_ls_inspect_and_logs(scheduled_run: Any) -> None:
    listed = json.loads(sluice("flow-run", "ls", "--state", "scheduled", "--json").stdout)
    assert [run["id"] for run in listed] == [str(scheduled_run.id)]
    assert json.loads(sluice("flow-run", "ls", "--deployment", "etl/nightly", "--json").stdout)[0]["name"]
    assert json.loads(sluice("flow-run", "ls", "--flow-name", "other", "--json").stdout) == []
    inspected = json.loads(sluice("flow-run", "inspect", str(scheduled_run.id), "--json").stdout)
    assert [entry["type"] for entry in inspected["state_history"]] == ["SCHEDULED"]
    with get_client() as client:
        client.create_logs([{"flow_run_id": scheduled_run.id, "level": 20, "name": "t", "message": "hi there",
                             "timestamp": "2026-01-01T00:00:00Z"}])  # fmt: skip
    assert "hi there" in sluice("flow-run", "logs", str(scheduled_run.id)).stdout


def test_cancelling_a_scheduled_run_cancels_it_at_once(scheduled_run: Any) -> None:
    result = sluice("flow-run", "cancel", str(scheduled_run.id))
    assert result.exit_code == 0 and "CANCELLED" in result.stdout
    again = sluice("flow-run", "cancel", str(scheduled_run.id))
    assert again.exit_code == 1 and again.stderr.startswith("Error: flow run") and "already CANCELLED" in again.stderr


def test_cancelling_a_claimed_run_asks_its_agent(scheduled_run: Any) -> None:
    with get_client() as client:
        client.claim_flow_runs(["etl"], uuid.uuid4())
    assert "CANCELLING" in sluice("flow-run", "cancel", str(scheduled_run.id)).stdout


def test_delete_and_unknown_runs(scheduled_run: Any) -> None:
    assert sluice("flow-run", "delete", str(scheduled_run.id)).exit_code == 0
    result = sluice("flow-run", "inspect", str(scheduled_run.id))
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "not found" in result.stderr


def test_an_agent_needs_a_queue() -> None:
    result = sluice("agent", "start")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: name at least one work queue (-q NAME)")
