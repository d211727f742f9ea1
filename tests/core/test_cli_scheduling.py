"""``sluice deployment backfill``, ``sluice work-queue preview``, the upcoming runs of ``deployment
inspect`` and ``sluice server services``, in-process on the embedded API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from sluice.cli import build_app
from sluice.client import get_client

HOURLY = {"type": "cron", "cron": "0 * * * *"}


def sluice(*args: str) -> Any:
    """Run the CLI in-process; the Click result (stdout and stderr apart)."""
    return CliRunner().invoke(build_app(), list(args), catch_exceptions=False)


@pytest.fixture
def hourly() -> Any:
    """The deployment ``etl/hourly`` with an hourly cron schedule, in the queue ``etl``."""
    with get_client() as client:
        return client.create_deployment("hourly", flow_name="etl", schedule=HOURLY, work_queue_name="etl")


def runs_of(deployment: Any) -> list[Any]:
    """The deployment's runs, by expected start."""
    with get_client() as client:
        return client.filter_flow_runs(deployment_ids=[deployment.id], sort="EXPECTED_START_TIME_ASC")


def test_backfill_dry_run_lists_the_times_and_creates_nothing(hourly) -> None:
    result = sluice(
        "deployment", "backfill", "etl/hourly", "--start", "2026-01-01", "--end", "2026-01-01T02:00", "--dry-run"
    )
    assert result.exit_code == 0, result.stderr
    assert "2026-01-01T00:00:00Z" in result.stdout and "2026-01-01T02:00:00Z" in result.stdout
    assert "Dry run: 3 new runs of etl/hourly would be created" in result.stdout
    assert runs_of(hourly) == []


def test_backfill_creates_the_runs_once(hourly) -> None:
    args = ("deployment", "backfill", "etl/hourly", "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-01T02:00")
    first = sluice(*args)
    assert first.exit_code == 0 and "Created 3 runs of etl/hourly" in first.stdout
    again = sluice(*args, "--json")
    assert json.loads(again.stdout)["created"] == 0 and json.loads(again.stdout)["existing"] == 3
    times = [run.expected_start_time for run in runs_of(hourly)]
    assert times == [datetime(2026, 1, 1, hour, tzinfo=UTC) for hour in range(3)]


def test_backfill_of_more_than_a_thousand_runs_needs_yes(hourly) -> None:
    args = ("deployment", "backfill", "etl/hourly", "--start", "2026-01-01", "--end", "2026-03-01")
    refused = sluice(*args)
    assert refused.exit_code == 1
    assert "would create 1,417 runs, more than 1,000: add --yes" in refused.stderr
    assert runs_of(hourly) == []
    created = sluice(*args, "--yes")
    assert created.exit_code == 0 and "Created 1,417 runs" in created.stdout


def test_backfill_errors_are_one_line(hourly) -> None:
    bad = sluice("deployment", "backfill", "etl/hourly", "--start", "yesterday", "--end", "2026-01-01")
    assert bad.exit_code == 1 and bad.stderr.startswith("Error: invalid --start 'yesterday'")
    backwards = sluice("deployment", "backfill", "etl/hourly", "--start", "2026-01-02", "--end", "2026-01-01")
    assert backwards.exit_code == 1 and "is before start" in backwards.stderr
    missing = sluice("deployment", "backfill", "etl/nope", "--start", "2026-01-01", "--end", "2026-01-02")
    assert missing.exit_code == 1 and "not found" in missing.stderr


def test_work_queue_preview_shows_upcoming_and_late_runs(hourly) -> None:
    now = datetime.now(UTC)
    with get_client() as client:
        late = client.create_flow_run_from_deployment(
            hourly.id,
            state={"type": "SCHEDULED", "name": "Late", "scheduled_time": (now - timedelta(minutes=5)).isoformat()},
        )
        later = client.create_flow_run_from_deployment(
            hourly.id, state={"type": "SCHEDULED", "scheduled_time": (now + timedelta(hours=2)).isoformat()}
        )
    table = sluice("work-queue", "preview", "etl", "--hours", "3")
    assert table.exit_code == 0
    assert "Late" in table.stdout and "etl/hourly" in table.stdout and late.name in table.stdout
    listed = json.loads(sluice("work-queue", "preview", "--hours", "1", "--json").stdout)
    assert [run["id"] for run in listed] == [str(late.id)]
    assert [run["id"] for run in json.loads(sluice("work-queue", "preview", "--json").stdout)] == [
        str(late.id),
        str(later.id),
    ]


def test_work_queue_preview_of_an_empty_or_unknown_queue(hourly) -> None:
    assert "No runs are scheduled in work queue 'etl'" in sluice("work-queue", "preview", "etl").stdout
    unknown = sluice("work-queue", "preview", "nope")
    assert unknown.exit_code == 1 and "work queue 'nope' not found" in unknown.stderr


def test_the_scheduler_service_runs_once_and_inspect_shows_the_upcoming_runs(hourly) -> None:
    assert sluice("server", "services", "scheduler", "--once").exit_code == 0
    upcoming = json.loads(sluice("deployment", "inspect", "etl/hourly", "--json").stdout)["upcoming_runs"]
    assert len(upcoming) == 10 and {run["state"] for run in upcoming} == {"Scheduled"}
    assert len(runs_of(hourly)) == 100  # SLUICE_SCHEDULER_MAX_RUNS


def test_the_late_runs_service_runs_once(hourly) -> None:
    with get_client() as client:
        past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        run = client.create_flow_run_from_deployment(hourly.id, state={"type": "SCHEDULED", "scheduled_time": past})
    assert sluice("server", "services", "late-runs", "--once").exit_code == 0
    with get_client() as client:
        assert client.read_flow_run(run.id).state.name == "Late"
    upcoming = json.loads(sluice("deployment", "inspect", "etl/hourly", "--json").stdout)["upcoming_runs"]
    assert upcoming[0]["state"] == "Late" and upcoming[0]["id"] == str(run.id)
