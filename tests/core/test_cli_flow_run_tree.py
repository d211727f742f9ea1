"""``sluice flow-run inspect`` shows a run's tree: task runs and subflow runs with states and durations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from sluice import flow, task
from sluice.cli import build_app
from sluice.cli.flow_run_tree import duration
from sluice.client import get_client


def sluice(*args: str) -> Any:
    return CliRunner().invoke(build_app(), list(args))


@pytest.fixture
def parent_run_id() -> str:
    @flow
    def child() -> int:
        return 1

    @task(retries=1)
    def broken() -> None:
        raise ValueError("bad input")

    @task
    def calls_child() -> int:
        return child()

    @task
    def plain(n: int) -> int:
        return n

    @flow
    def parent() -> int:
        plain(1)
        broken.submit().wait()
        return calls_child()

    parent()
    with get_client() as client:
        (run,) = client.filter_flow_runs(flow_names=["parent"])
    return str(run.id)


def test_inspect_prints_the_tree_with_states_attempts_and_subflows_under_their_task(parent_run_id: str) -> None:
    result = sluice("flow-run", "inspect", parent_run_id)
    assert result.exit_code == 0, result.output
    tree = result.stdout.split("tree:\n", 1)[1].splitlines()
    assert f"[flow run {parent_run_id}]  COMPLETED" in tree[0]
    assert tree[1].startswith("  ├── plain-0  COMPLETED  ")
    assert tree[2].startswith("  ├── broken-0  FAILED  ")
    assert tree[2].endswith("2 attempts  Task run encountered an exception. ValueError: bad input")
    assert tree[3].startswith("  └── calls_child-0  COMPLETED  ")
    assert tree[4].startswith("      └── ") and "[flow run " in tree[4] and "COMPLETED" in tree[4]


def test_inspect_json_holds_the_task_runs_and_subflow_runs(parent_run_id: str) -> None:
    result = sluice("flow-run", "inspect", parent_run_id, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sorted(run["name"] for run in data["task_runs"]) == ["broken-0", "calls_child-0", "plain-0"]
    (subflow,) = data["subflow_runs"]
    caller = next(run for run in data["task_runs"] if run["name"] == "calls_child-0")
    assert subflow["flow_run"]["parent_task_run_id"] == caller["id"]
    assert data["tree_truncated"] is False


def test_inspect_of_an_unknown_run_is_one_line_and_a_non_zero_exit() -> None:
    result = sluice("flow-run", "inspect", "00000000-0000-0000-0000-000000000000")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "not found" in result.stderr


@pytest.mark.parametrize(
    "seconds, shown",
    [(0.25, "0.25s"), (12.34, "12.3s"), (245, "4m05s"), (3 * 3600 + 60, "3h01m")],
)
def test_durations_read_like_a_human_wrote_them(seconds: float, shown: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert duration(start, start + timedelta(seconds=seconds)) == shown


def test_a_run_not_started_or_not_ended_says_so() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert (duration(None, None), duration(start, None)) == ("-", "running")
