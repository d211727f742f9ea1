"""The late-runs service (server/services/late_runs.py): Late after late_after, max_lateness
cancellation; on SQLite and PostgreSQL with a controllable clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.server.scheduling_helpers import (
    clock,
    history_of,
    make_late_runs,
    make_scheduler,
    runs_of,
    schedule_types,
)

__all__ = ["clock", "schedule_types"]  # fixtures

HOURLY = {"type": "cron", "cron": "0 * * * *"}


@pytest.fixture
def scheduler(app, settings, clock):
    """A scheduler creating 3 runs ahead."""
    return make_scheduler(app, settings, clock, scheduler_max_runs=3)


@pytest.fixture
def late_runs(app, settings, clock):
    """The late-runs service with late_after = 15 s."""
    return make_late_runs(app, settings, clock, late_after_seconds=15.0)


def test_a_run_becomes_late_after_late_after(client, flow, app, scheduler, late_runs, clock):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    scheduler.schedule_runs()
    first, second, _ = runs_of(app, deployment.id)
    clock.now = first.expected_start_time + timedelta(seconds=15)
    assert late_runs.handle_late_runs().marked_late == 0  # exactly late_after: not yet
    clock.advance(seconds=1)
    assert late_runs.handle_late_runs().marked_late == 1
    run = client.read_flow_run(first.id)
    assert (run.state.type.value, run.state.name) == ("SCHEDULED", "Late")
    assert run.state.scheduled_time == first.expected_start_time  # still due at its time, claimable
    assert history_of(app, first.id) == [("SCHEDULED", "Scheduled"), ("SCHEDULED", "Late")]
    assert client.read_flow_run(second.id).state.name == "Scheduled"
    assert late_runs.handle_late_runs().marked_late == 0  # once only


def test_late_shows_in_the_flow_run_filter(client, flow, app, scheduler, late_runs, clock):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    scheduler.schedule_runs()
    first = runs_of(app, deployment.id)[0]
    clock.now = first.expected_start_time + timedelta(minutes=1)
    late_runs.handle_late_runs()
    late = client.filter_flow_runs(state_names=["Late"])
    assert [run.id for run in late] == [first.id]


def test_manual_runs_become_late_too_but_retries_do_not(client, flow, app, late_runs, clock):
    deployment = client.create_deployment("on-demand", flow.id)
    due = (clock.now + timedelta(minutes=5)).isoformat()
    manual = client.create_flow_run_from_deployment(deployment.id, state={"type": "SCHEDULED", "scheduled_time": due})
    retry = client.create_flow_run_from_deployment(
        deployment.id, state={"type": "SCHEDULED", "name": "AwaitingRetry", "scheduled_time": due}
    )
    clock.advance(minutes=10)
    late_runs.handle_late_runs()
    assert client.read_flow_run(manual.id).state.name == "Late"
    assert client.read_flow_run(retry.id).state.name == "AwaitingRetry"


def test_max_lateness_cancels_a_run_that_is_too_late(client, flow, app, scheduler, late_runs, clock):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY, max_lateness=60)
    scheduler.schedule_runs()
    first, second, _ = runs_of(app, deployment.id)
    clock.now = first.expected_start_time + timedelta(seconds=30)
    report = late_runs.handle_late_runs()
    assert (report.cancelled, report.marked_late) == (0, 1)
    clock.now = first.expected_start_time + timedelta(seconds=61)
    assert late_runs.handle_late_runs().cancelled == 1
    run = client.read_flow_run(first.id)
    assert run.state.type.value == "CANCELLED"
    assert "max_lateness of 60s" in run.state.message and "61s" in run.state.message
    assert run.start_time is None and run.end_time is not None  # never started
    assert history_of(app, first.id)[-1] == ("CANCELLED", "Cancelled")
    assert client.read_flow_run(second.id).state.type.value == "SCHEDULED"


def test_max_lateness_leaves_other_deployments_and_claimed_runs_alone(client, flow, app, scheduler, late_runs, clock):
    strict = client.create_deployment("strict", flow.id, schedule=HOURLY, max_lateness=60)
    relaxed = client.create_deployment("relaxed", flow.id, schedule=HOURLY)
    scheduler.schedule_runs()
    strict_first = runs_of(app, strict.id)[0]
    client.set_flow_run_state(strict_first.id, "PENDING", force=True)  # as a claim does
    clock.now = strict_first.expected_start_time + timedelta(hours=1, minutes=30)
    late_runs.handle_late_runs()
    assert client.read_flow_run(strict_first.id).state.type.value == "PENDING"
    strict_second = runs_of(app, strict.id)[1]
    assert client.read_flow_run(strict_second.id).state.type.value == "CANCELLED"
    assert {run.state_name for run in runs_of(app, relaxed.id)[:2]} == {"Late"}


def test_catch_up_runs_past_max_lateness_are_cancelled(client, flow, app, scheduler, late_runs, clock):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY, catchup=True, max_lateness=5400)
    scheduler.schedule_runs()
    midnight = clock.now - timedelta(minutes=1)
    clock.now = midnight + timedelta(hours=8, minutes=1)  # the scheduler was down
    scheduler.schedule_runs()
    late_runs.handle_late_runs()
    # 01-03 were created before the outage; of the missed 04-08 catch-up makes the latest three.
    states = {run.expected_start_time.hour: run.state_type for run in runs_of(app, deployment.id)}
    assert sorted(states) == [1, 2, 3, 6, 7, 8, 9, 10, 11]
    assert [hour for hour, state in sorted(states.items()) if state == "CANCELLED"] == [1, 2, 3, 6]
    assert states[7] == states[8] == states[9] == "SCHEDULED"  # 07:00 is 61 minutes late, within 90
