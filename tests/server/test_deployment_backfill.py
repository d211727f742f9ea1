"""``POST /api/deployments/{id}/backfill`` (server/api/deployment_backfill.py, server/models/backfill.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sluice.errors import ConfigurationError, ObjectNotFound
from tests.server.scheduling_helpers import clock, hours, make_scheduler, runs_of, schedule_types, times_of

__all__ = ["clock", "schedule_types"]  # fixtures

HOURLY = {"type": "cron", "cron": "0 * * * *"}


@pytest.fixture
def scheduler(app, settings, clock):
    """A scheduler creating 5 runs ahead."""
    return make_scheduler(app, settings, clock, scheduler_max_runs=5)


@pytest.fixture
def midnight(clock):
    """The midnight the clock is one minute past."""
    return clock.now - timedelta(minutes=1)


def test_backfill_is_idempotent_with_the_scheduler(client, flow, app, scheduler, midnight):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    scheduler.schedule_runs()  # 01:00 to 05:00
    scheduled = {run.expected_start_time: run.id for run in runs_of(app, deployment.id)}
    result = client.backfill_deployment(deployment.id, midnight - timedelta(hours=3), midnight + timedelta(hours=3))
    assert (result.total, result.created, result.existing) == (7, 4, 3)
    assert times_of(app, deployment.id) == hours(midnight, -3, -2, -1, 0, 1, 2, 3, 4, 5)
    for run in result.runs:  # the scheduler's runs were kept, not duplicated
        if run.expected_start_time in scheduled:
            assert run.exists and run.flow_run_id == scheduled[run.expected_start_time]
    again = client.backfill_deployment(deployment.id, midnight - timedelta(hours=3), midnight + timedelta(hours=3))
    assert (again.created, again.existing) == (0, 7)
    assert [run.flow_run_id for run in again.runs] == [run.flow_run_id for run in result.runs]
    assert scheduler.schedule_runs().created == 0
    assert len(runs_of(app, deployment.id)) == 9


def test_the_scheduler_skips_times_a_backfill_created(client, flow, app, scheduler, midnight):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    client.backfill_deployment(deployment.id, midnight + timedelta(hours=1), midnight + timedelta(hours=2))
    assert scheduler.schedule_runs().created == 3
    assert times_of(app, deployment.id) == hours(midnight, 1, 2, 3, 4, 5)


def test_backfilled_runs_carry_the_deployment_fields_and_may_start_now(client, flow, app, clock):
    deployment = client.create_deployment(
        "hourly", flow.id, schedule=HOURLY, parameters={"rows": 1}, tags=["t"], work_queue_name="q"
    )
    result = client.backfill_deployment(deployment.id, "2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z")
    assert result.created == 3
    run = client.read_flow_run(result.runs[0].flow_run_id)
    assert run.expected_start_time.isoformat() == "2026-01-01T00:00:00+00:00"
    assert run.state.type.value == "SCHEDULED" and run.state.name == "Scheduled"
    assert run.next_scheduled_start_time > run.expected_start_time  # lateness counts from its creation
    assert (run.parameters, run.tags, run.work_queue_name, run.auto_scheduled) == ({"rows": 1}, ["t"], "q", True)


def test_a_dry_run_lists_the_runs_and_creates_none(client, flow, app, scheduler, midnight):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    scheduler.schedule_runs()
    plan = client.backfill_deployment(
        deployment.id, midnight - timedelta(hours=1), midnight + timedelta(hours=1), dry_run=True
    )
    assert plan.dry_run and (plan.total, plan.created, plan.existing) == (3, 0, 1)
    assert [run.exists for run in plan.runs] == [False, False, True]
    assert [run.flow_run_id is None for run in plan.runs] == [True, True, False]
    assert len(runs_of(app, deployment.id)) == 5


def test_every_active_schedule_is_backfilled(client, flow, app, midnight):
    six_hourly = {"type": "cron", "cron": "0 */6 * * *"}
    half_past = {"type": "cron", "cron": "30 */12 * * *"}
    off = {"type": "cron", "cron": "15 * * * *"}
    deployment = client.create_deployment(
        "d",
        flow.id,
        schedules=[{"schedule": six_hourly}, {"schedule": half_past}, {"schedule": off, "active": False}],
    )
    result = client.backfill_deployment(deployment.id, midnight, midnight + timedelta(hours=12))
    assert [run.expected_start_time for run in result.runs] == hours(midnight, 0, 0.5, 6, 12)
    ids = {entry.schedule["cron"]: entry.id for entry in deployment.schedules}
    assert [run.schedule_id for run in result.runs] == [ids["0 */6 * * *"], ids["30 */12 * * *"]] + [
        ids["0 */6 * * *"]
    ] * 2


def test_a_window_with_more_than_max_runs_is_refused_naming_the_count(client, flow, app, midnight):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    with pytest.raises(ConfigurationError, match="holds 25 runs, more than max_runs=10"):
        client.backfill_deployment(deployment.id, midnight, midnight + timedelta(hours=24), max_runs=10)
    assert runs_of(app, deployment.id) == []


def test_bad_windows_and_deployments_are_refused(client, flow, api, midnight):
    unscheduled = client.create_deployment("on-demand", flow.id)
    with pytest.raises(ConfigurationError, match="no active schedule"):
        client.backfill_deployment(unscheduled.id, midnight, midnight + timedelta(hours=1))
    with pytest.raises(ConfigurationError, match="is before start"):
        client.backfill_deployment(unscheduled.id, midnight, midnight - timedelta(hours=1))
    with pytest.raises(ObjectNotFound):
        client.backfill_deployment("00000000-0000-0000-0000-000000000000", midnight, midnight)
    body = {"start": midnight.isoformat(), "end": midnight.isoformat(), "max_runs": 0}
    assert api.post(f"/api/deployments/{unscheduled.id}/backfill", json=body).status_code == 422
