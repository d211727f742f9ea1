"""``/api/flow_runs`` (server/api/flow_runs.py) and the transition rules (server/orchestration.py)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from sluice.errors import ObjectAlreadyExists, ObjectNotFound
from sluice.schemas import StateCreate


@pytest.fixture
def scheduled_run(client, deployment):
    return client.create_flow_run_from_deployment(deployment.id)


def claim(client, run):
    """What the claim does to a run (it uses force internally)."""
    return client.set_flow_run_state(run.id, "PENDING", force=True)


def test_create_flow_run_directly_is_pending_by_default(client, flow):
    run = client.create_flow_run(flow.id, {"x": 1})
    assert run.state_type == "PENDING"
    assert run.parameters == {"x": 1}
    assert run.run_count == 0 and run.expected_start_time is not None


def test_create_subflow_run_with_parent_and_running_state(client, flow):
    parent = client.create_flow_run(flow.id, state="RUNNING")
    child = client.create_flow_run(flow.id, parent_flow_run_id=parent.id, state="RUNNING")
    assert child.parent_flow_run_id == parent.id
    assert child.run_count == 1 and child.start_time is not None
    assert [r.id for r in client.filter_flow_runs(parent_flow_run_ids=[parent.id])] == [child.id]


def test_create_flow_run_of_unknown_flow_is_404(client):
    with pytest.raises(ObjectNotFound):
        client.create_flow_run(uuid.uuid4())


def test_idempotency_key_is_unique_per_flow(client):
    a, b = client.create_flow("a"), client.create_flow("b")
    first = client.create_flow_run(a.id, idempotency_key="k")
    assert client.create_flow_run(a.id, idempotency_key="k").id == first.id
    assert client.create_flow_run(b.id, idempotency_key="k").id != first.id


def test_set_state_to_pending_from_scheduled_is_rejected_and_leaves_the_run_unchanged(client, scheduled_run):
    before = client.read_flow_run(scheduled_run.id)
    result = client.set_flow_run_state(scheduled_run.id, "PENDING")
    assert result.status == "REJECT"
    assert result.state.type == "SCHEDULED"
    assert "claim" in result.reason
    after = client.read_flow_run(scheduled_run.id)
    assert after.model_dump() == before.model_dump()
    assert len(client.read_flow_run_states(scheduled_run.id)) == 1


def test_refused_transition_answers_200(api, scheduled_run):
    response = api.post(f"/api/flow_runs/{scheduled_run.id}/set_state", json={"state": {"type": "PENDING"}})
    assert response.status_code == 200
    assert response.json()["status"] == "REJECT"


def test_a_claimed_run_runs_and_completes(client, scheduled_run):
    assert claim(client, scheduled_run).status == "ACCEPT"
    running = client.set_flow_run_state(scheduled_run.id, "RUNNING")
    assert running.status == "ACCEPT"
    run = client.read_flow_run(scheduled_run.id)
    assert run.run_count == 1 and run.start_time is not None and run.end_time is None
    assert client.set_flow_run_state(scheduled_run.id, "COMPLETED").status == "ACCEPT"
    run = client.read_flow_run(scheduled_run.id)
    assert run.state_type == "COMPLETED" and run.end_time is not None
    history = [state.type for state in client.read_flow_run_states(scheduled_run.id)]
    assert history == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]


def test_scheduled_run_cannot_run_without_a_claim(client, scheduled_run):
    result = client.set_flow_run_state(scheduled_run.id, "RUNNING")
    assert result.status == "REJECT" and "claimed" in result.reason


@pytest.mark.parametrize("terminal", ["COMPLETED", "CANCELLED"])
def test_completed_or_cancelled_is_never_left(client, flow, terminal):
    run = client.create_flow_run(flow.id, state="RUNNING")
    assert client.set_flow_run_state(run.id, terminal).status == "ACCEPT"
    for proposed in ("RUNNING", "PENDING", "FAILED", {"type": "SCHEDULED", "name": "AwaitingRetry"}):
        result = client.set_flow_run_state(run.id, proposed)
        assert result.status == "REJECT", proposed
        assert result.state.type == terminal
    assert client.read_flow_run(run.id).state_type == terminal


def test_failed_run_is_retried_through_awaiting_retry(client, flow):
    run = client.create_flow_run(flow.id, state="RUNNING")
    client.set_flow_run_state(run.id, "FAILED")
    assert client.read_flow_run(run.id).end_time is not None
    retry = client.set_flow_run_state(run.id, {"type": "SCHEDULED", "name": "AwaitingRetry"})
    assert retry.status == "ACCEPT"
    assert client.read_flow_run(run.id).end_time is None
    assert client.set_flow_run_state(run.id, "RUNNING").status == "ACCEPT"
    assert client.read_flow_run(run.id).run_count == 2


def test_failed_run_cannot_go_back_to_plain_scheduled(client, flow):
    run = client.create_flow_run(flow.id, state="RUNNING")
    client.set_flow_run_state(run.id, "FAILED")
    assert client.set_flow_run_state(run.id, "SCHEDULED").status == "REJECT"


def test_force_overrides_the_rules(client, flow):
    run = client.create_flow_run(flow.id, state="RUNNING")
    client.set_flow_run_state(run.id, "COMPLETED")
    assert client.set_flow_run_state(run.id, "RUNNING", force=True).status == "ACCEPT"


def test_set_state_message_and_late_keeps_scheduled_time(client, deployment):
    later = datetime.now(UTC) + timedelta(minutes=5)
    run = client.create_flow_run_from_deployment(deployment.id, state={"type": "SCHEDULED", "scheduled_time": later})
    result = client.set_flow_run_state(run.id, {"type": "SCHEDULED", "name": "Late", "message": "late"})
    assert result.status == "ACCEPT"
    run = client.read_flow_run(run.id)
    assert run.state_name == "Late" and run.state_message == "late"
    assert run.next_scheduled_start_time == later


def test_invalid_scheduled_name_is_422(api, scheduled_run):
    body = {"state": {"type": "SCHEDULED", "name": "Whenever"}}
    response = api.post(f"/api/flow_runs/{scheduled_run.id}/set_state", json=body)
    assert response.status_code == 422


def test_set_state_of_unknown_run_is_404(api):
    response = api.post(f"/api/flow_runs/{uuid.uuid4()}/set_state", json={"state": {"type": "RUNNING"}})
    assert response.status_code == 404


def test_filter_by_state_deployment_queue_tags_and_time_window(client, deployment, flow):
    now = datetime.now(UTC)
    soon = client.create_flow_run_from_deployment(
        deployment.id, state={"type": "SCHEDULED", "scheduled_time": now + timedelta(minutes=1)}, tags=["a"]
    )
    later = client.create_flow_run_from_deployment(
        deployment.id, state={"type": "SCHEDULED", "scheduled_time": now + timedelta(hours=1)}, tags=["a", "b"]
    )
    direct = client.create_flow_run(flow.id, state="RUNNING")
    ids = lambda **criteria: [r.id for r in client.filter_flow_runs(**criteria)]  # noqa: E731
    assert set(ids(deployment_ids=[deployment.id])) == {soon.id, later.id}
    assert ids(state_types=["RUNNING"]) == [direct.id]
    assert set(ids(state_names=["Scheduled"])) == {soon.id, later.id}
    assert ids(work_queue_names=["etl-queue"], sort="EXPECTED_START_TIME_ASC") == [soon.id, later.id]
    assert ids(tags_all=["a", "b"]) == [later.id]
    assert set(ids(tags_any=["a"])) == {soon.id, later.id}
    window = {"after": now + timedelta(minutes=30), "before": now + timedelta(hours=2)}
    assert ids(expected_start_time_after=window["after"], expected_start_time_before=window["before"]) == [later.id]
    assert ids(flow_names=["etl"], limit=1, sort="EXPECTED_START_TIME_DESC") == [later.id]
    assert len(ids(limit=2, offset=1)) == 2


def test_update_flow_run_sets_infrastructure_pid(client, flow):
    run = client.create_flow_run(flow.id)
    assert client.update_flow_run(run.id, infrastructure_pid="1234").infrastructure_pid == "1234"


def test_delete_flow_run(client, flow):
    run = client.create_flow_run(flow.id)
    client.delete_flow_run(run.id)
    with pytest.raises(ObjectNotFound):
        client.read_flow_run(run.id)
    with pytest.raises(ObjectNotFound):
        client.read_flow_run_states(run.id)


def test_parameters_larger_than_a_mebibyte_are_a_413_and_no_run_is_stored(api, flow):
    response = api.post("/api/flow_runs/", json={"flow_id": str(flow.id), "parameters": {"rows": "x" * 1_100_000}})

    assert response.status_code == 413
    assert response.json()["detail"] == (
        "the parameters of the flow run are 1100011 bytes as JSON, more than the server's limit of 1048576 "
        "(SLUICE_SERVER_MAX_PARAMETERS_BYTES); pass large data by reference, e.g. a path in storage"
    )
    assert api.post("/api/flow_runs/filter", json={}).json() == []


def test_a_state_proposed_again_with_its_id_is_accepted_once_and_recorded_once(client, flow):
    run = client.create_flow_run(flow.id, state="RUNNING")
    completed = StateCreate(type="COMPLETED", id=uuid.uuid4())
    first = client.set_flow_run_state(run.id, completed)
    again = client.set_flow_run_state(run.id, completed)  # the first answer was lost: sent again
    assert first.status == again.status == "ACCEPT"
    assert again.state.id == completed.id and again.state.timestamp == first.state.timestamp
    assert [entry.type.value for entry in client.read_flow_run_states(run.id)] == ["RUNNING", "COMPLETED"]


def test_a_state_id_of_another_run_is_409(client, flow):
    state = StateCreate(type="RUNNING", id=uuid.uuid4())
    client.set_flow_run_state(client.create_flow_run(flow.id).id, state)
    with pytest.raises(ObjectAlreadyExists, match="already used by another flow run"):
        client.set_flow_run_state(client.create_flow_run(flow.id).id, state)


def test_a_state_keeps_the_time_the_client_gives_it(client, flow):
    run = client.create_flow_run(flow.id, state="PENDING")
    client.set_flow_run_state(run.id, "RUNNING")
    started = client.read_flow_run(run.id).state.timestamp
    ended = started + timedelta(milliseconds=5)
    # The server keeps a client's time only when it is not in the future: let the clock pass it.
    deadline = time.monotonic() + 5
    while datetime.now(UTC) <= ended and time.monotonic() < deadline:
        pass
    assert client.set_flow_run_state(run.id, StateCreate(type="COMPLETED", timestamp=ended)).status == "ACCEPT"
    finished = client.read_flow_run(run.id)
    assert finished.state.timestamp == finished.end_time == ended


def test_a_client_timestamp_is_never_in_the_future_nor_before_the_current_state(client, flow):
    run = client.create_flow_run(flow.id, state="PENDING")
    pending = client.read_flow_run(run.id).state.timestamp
    client.set_flow_run_state(run.id, StateCreate(type="RUNNING", timestamp=pending - timedelta(hours=1)))
    assert client.read_flow_run(run.id).state.timestamp == pending
    before = datetime.now(UTC)
    client.set_flow_run_state(run.id, StateCreate(type="COMPLETED", timestamp=before + timedelta(days=1)))
    assert before <= client.read_flow_run(run.id).state.timestamp <= datetime.now(UTC)
