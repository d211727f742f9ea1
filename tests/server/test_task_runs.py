"""``/api/task_runs``: task runs, their states, bulk reports, and a flow run's tree (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from sluice.errors import ObjectAlreadyExists, ObjectNotFound


@pytest.fixture
def flow_run(client, flow):
    return client.create_flow_run(flow.id)


def states_of(client, task_run_id) -> list[tuple[str, str]]:
    return [(state.type.value, state.name) for state in client.read_task_run_states(task_run_id)]


def test_a_new_task_run_is_pending_with_its_first_state_recorded(client, flow_run):
    run = client.create_task_run(flow_run.id, "extract", "etl.extract")
    assert run.state.type.value == "PENDING"
    assert (run.flow_run_id, run.task_key, run.dynamic_key, run.run_count) == (flow_run.id, "etl.extract", "0", 0)
    assert states_of(client, run.id) == [("PENDING", "Pending")]


def test_creating_a_task_run_again_with_its_id_returns_the_stored_one(api, client, flow_run):
    run_id = uuid4()
    body = {"id": str(run_id), "name": "extract", "flow_run_id": str(flow_run.id), "task_key": "etl.extract"}
    assert api.post("/api/task_runs/", json=body).status_code == 201
    again = api.post("/api/task_runs/", json=body)
    assert again.status_code == 200 and again.json()["id"] == str(run_id)
    assert len(client.filter_task_runs(flow_run_ids=[flow_run.id])) == 1


def test_a_task_run_of_an_unknown_flow_run_is_a_404(client):
    with pytest.raises(ObjectNotFound, match=r"flow run .* not found"):
        client.create_task_run(uuid4(), "extract", "etl.extract")


def test_two_task_runs_with_one_dynamic_key_are_a_conflict_naming_it(client, flow_run):
    client.create_task_run(flow_run.id, "extract", "etl.extract", "3")
    with pytest.raises(ObjectAlreadyExists, match="dynamic key '3'"):
        client.create_task_run(flow_run.id, "extract", "etl.extract", "3")


def test_running_then_completed_sets_the_times_and_counts_the_attempt(client, flow_run):
    run = client.create_task_run(flow_run.id, "extract", "etl.extract")
    assert client.set_task_run_state(run.id, "RUNNING").status == "ACCEPT"
    assert client.set_task_run_state(run.id, "COMPLETED").status == "ACCEPT"
    stored = client.read_task_run(run.id)
    assert stored.run_count == 1
    assert stored.start_time is not None and stored.end_time >= stored.start_time
    assert states_of(client, run.id) == [("PENDING", "Pending"), ("RUNNING", "Running"), ("COMPLETED", "Completed")]


def test_a_finished_task_run_refuses_to_run_again_saying_why(client, flow_run):
    run = client.create_task_run(flow_run.id, "extract", "etl.extract")
    client.set_task_run_state(run.id, "RUNNING")
    client.set_task_run_state(run.id, "COMPLETED")
    result = client.set_task_run_state(run.id, "RUNNING")
    assert result.status == "REJECT"
    assert result.state.type.value == "COMPLETED"
    assert "terminal state" in result.reason


def test_a_bulk_report_creates_runs_and_applies_their_states_in_order(client, flow_run):
    ids = [uuid4() for _ in range(3)]
    start = datetime.now(UTC) - timedelta(seconds=10)
    task_runs = [
        {"id": run_id, "name": f"double-{index}", "flow_run_id": flow_run.id, "task_key": "m.double",
         "dynamic_key": str(index), "state": {"type": "PENDING", "id": uuid4(), "timestamp": start}}
        for index, run_id in enumerate(ids)
    ]  # fmt: skip
    states = []
    for run_id in ids:
        states.append({"task_run_id": run_id, "state": {"type": "RUNNING", "id": uuid4(), "timestamp": start}})
        done = {"type": "COMPLETED", "id": uuid4(), "timestamp": start + timedelta(seconds=2)}
        states.append({"task_run_id": run_id, "state": done})
    result = client.report_task_runs(task_runs, states)
    assert (result.created, result.states, result.rejected) == (3, 9, [])
    runs = client.filter_task_runs(flow_run_ids=[flow_run.id], sort="NAME_ASC")
    assert [run.name for run in runs] == ["double-0", "double-1", "double-2"]
    assert all(run.state.type.value == "COMPLETED" and run.run_count == 1 for run in runs)
    assert runs[0].end_time - runs[0].start_time == timedelta(seconds=2)


def test_a_bulk_report_sent_again_changes_nothing(client, flow_run):
    run_id = uuid4()
    task_runs = [{"id": run_id, "name": "t", "flow_run_id": flow_run.id, "task_key": "m.t"}]
    states = [{"task_run_id": run_id, "state": {"type": "RUNNING", "id": uuid4()}}]
    client.report_task_runs(task_runs, states)
    again = client.report_task_runs(task_runs, states)
    assert (again.created, again.states, again.rejected) == (0, 0, [])
    assert states_of(client, run_id) == [("PENDING", "Pending"), ("RUNNING", "Running")]


def test_a_bulk_report_keeps_what_it_can_and_lists_what_it_refused(client, flow_run):
    kept, orphan, unknown = uuid4(), uuid4(), uuid4()
    task_runs = [
        {"id": kept, "name": "kept", "flow_run_id": flow_run.id, "task_key": "m.kept"},
        {"id": orphan, "name": "orphan", "flow_run_id": uuid4(), "task_key": "m.orphan"},
    ]
    states = [
        {"task_run_id": unknown, "state": {"type": "RUNNING"}},
        {"task_run_id": kept, "state": {"type": "COMPLETED"}},  # not run yet: the rules refuse it
    ]
    result = client.report_task_runs(task_runs, states)
    assert result.created == 1
    reasons = {item["task_run_id"]: item["reason"] for item in result.rejected}
    assert "flow run" in reasons[str(orphan)] and "not found" in reasons[str(orphan)]
    assert reasons[str(unknown)] == "task run not found"
    assert "cannot be COMPLETED" in reasons[str(kept)]


def test_a_bulk_report_of_a_thousand_task_runs_is_one_request(client, flow_run):
    task_runs = [
        {"id": uuid4(), "name": f"t-{index}", "flow_run_id": flow_run.id, "task_key": "m.t", "dynamic_key": str(index)}
        for index in range(1000)
    ]
    assert client.report_task_runs(task_runs).created == 1000
    assert len(client.filter_task_runs(flow_run_ids=[flow_run.id], limit=1000)) == 1000


def test_a_bulk_report_over_the_limit_is_refused_naming_it(api, flow_run):
    item = {"name": "t", "flow_run_id": str(flow_run.id), "task_key": "m.t"}
    response = api.post("/api/task_runs/bulk", json={"task_runs": [item] * 1001})
    assert response.status_code == 422
    assert "1000" in str(response.json()["detail"])


def test_task_runs_filter_by_state_type(client, flow_run):
    done = client.create_task_run(flow_run.id, "done", "m.done")
    client.set_task_run_state(done.id, "RUNNING")
    client.set_task_run_state(done.id, "FAILED", message="boom")
    client.create_task_run(flow_run.id, "waiting", "m.waiting")
    (failed,) = client.filter_task_runs(flow_run_ids=[flow_run.id], state_types=["FAILED"])
    assert failed.id == done.id and failed.state.message == "boom"


def test_the_tree_holds_task_runs_and_subflows_linked_to_the_task_that_called_them(client, flow):
    parent = client.create_flow_run(flow.id)
    caller = client.create_task_run(parent.id, "caller", "m.caller")
    child = client.create_flow_run(flow.id, parent_flow_run_id=parent.id, parent_task_run_id=caller.id)
    client.create_task_run(child.id, "inner", "m.inner")
    tree = client.read_flow_run_tree(parent.id)
    assert tree.flow_run.id == parent.id and not tree.truncated
    assert [run.name for run in tree.task_runs] == ["caller"]
    (subflow,) = tree.subflow_runs
    assert subflow.flow_run.id == child.id
    assert subflow.flow_run.parent_task_run_id == caller.id
    assert [run.name for run in subflow.task_runs] == ["inner"]


def test_the_tree_of_an_unknown_flow_run_is_a_404(api):
    response = api.get(f"/api/flow_runs/{uuid4()}/tree")
    assert response.status_code == 404 and "not found" in response.json()["detail"]


def test_logs_carry_their_task_run_and_filter_by_it(client, flow_run):
    task_run = client.create_task_run(flow_run.id, "t", "m.t")
    now = datetime.now(UTC)
    client.create_logs(
        [
            {"flow_run_id": flow_run.id, "message": "from the flow", "timestamp": now},
            {"flow_run_id": flow_run.id, "task_run_id": task_run.id, "message": "from the task", "timestamp": now},
        ]
    )
    (log,) = client.filter_logs(task_run_ids=[task_run.id])
    assert log.message == "from the task" and log.task_run_id == task_run.id


def test_deleting_a_flow_run_deletes_its_task_runs(client, flow_run):
    task_run = client.create_task_run(flow_run.id, "t", "m.t")
    client.delete_flow_run(flow_run.id)
    with pytest.raises(ObjectNotFound):
        client.read_task_run(task_run.id)
