"""``POST /api/work_queues/preview`` (server/api/work_queue_preview.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sluice.errors import ObjectNotFound


def _schedule(client, deployment, when: datetime, **fields):
    state = {"type": "SCHEDULED", "scheduled_time": when.isoformat()}
    return client.create_flow_run_from_deployment(deployment.id, state=state, **fields)


@pytest.fixture
def now():
    """The wall clock (the preview window starts at the server's now)."""
    return datetime.now(UTC)


def test_preview_lists_the_runs_due_within_the_window_soonest_first(client, flow, now):
    deployment = client.create_deployment("d", flow.id, work_queue_name="etl")
    later = _schedule(client, deployment, now + timedelta(hours=5))
    soon = _schedule(client, deployment, now + timedelta(hours=1))
    _schedule(client, deployment, now + timedelta(hours=30))
    overdue = _schedule(client, deployment, now - timedelta(hours=1))
    upcoming = client.preview_work_queues(["etl"], hours=24)
    assert [run.id for run in upcoming] == [overdue.id, soon.id, later.id]
    assert {(run.flow_name, run.deployment_name) for run in upcoming} == {("etl", "d")}
    assert [run.id for run in client.preview_work_queues(["etl"], hours=2)] == [overdue.id, soon.id]


def test_preview_shows_late_runs_by_name_and_skips_other_states(client, flow, now):
    deployment = client.create_deployment("d", flow.id, work_queue_name="etl")
    late = client.create_flow_run_from_deployment(
        deployment.id,
        state={"type": "SCHEDULED", "name": "Late", "scheduled_time": (now - timedelta(minutes=5)).isoformat()},
    )
    running = _schedule(client, deployment, now)
    client.set_flow_run_state(running.id, "PENDING", force=True)
    upcoming = client.preview_work_queues(["etl"])
    assert [(run.id, run.state.name) for run in upcoming] == [(late.id, "Late")]


def test_preview_of_every_queue_or_of_one(client, flow, now):
    first = client.create_deployment("a", flow.id, work_queue_name="q1")
    second = client.create_deployment("b", flow.id, work_queue_name="q2")
    one = _schedule(client, first, now + timedelta(hours=1))
    two = _schedule(client, second, now + timedelta(hours=2))
    assert [run.id for run in client.preview_work_queues()] == [one.id, two.id]
    assert [run.id for run in client.preview_work_queues(["q2"])] == [two.id]
    assert [run.work_queue_name for run in client.preview_work_queues(limit=1)] == ["q1"]


def test_preview_of_an_unknown_queue_is_a_404(client):
    with pytest.raises(ObjectNotFound, match="work queue 'nope' not found"):
        client.preview_work_queues(["nope"])


def test_preview_refuses_a_window_of_zero_hours(api):
    assert api.post("/api/work_queues/preview", json={"hours": 0}).status_code == 422
