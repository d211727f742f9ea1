"""The change feed (server/database/change_feed.py, change_listeners.py): what queue backends hear after
each commit, in this process and from other processes."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from sluice.queues import WorkChanges
from tests.e2e.processes import wait_until


@pytest.fixture
def heard(app: Any) -> list[WorkChanges]:
    """Every change the app's store reports to a subscriber, in order."""
    changes: list[WorkChanges] = []
    unsubscribe = app.state.queue_store.subscribe(changes.append)
    yield changes
    unsubscribe()


def test_a_new_run_is_reported_with_its_id_as_possible_work(client: Any, deployment: Any, heard: list) -> None:
    run = client.create_flow_run_from_deployment(deployment.id)
    assert [(change.runs, change.may_have_work, change.local) for change in heard] == [
        (frozenset({run.id}), True, True)
    ]


def test_a_state_change_is_reported_and_only_a_waking_one_may_have_work(
    client: Any, deployment: Any, heard: list
) -> None:
    run = client.create_flow_run_from_deployment(deployment.id, state={"type": "PENDING"})
    heard.clear()
    client.set_flow_run_state(run.id, "RUNNING")
    client.set_flow_run_state(run.id, "COMPLETED")
    assert [(change.runs, change.may_have_work) for change in heard] == [
        (frozenset({run.id}), False),
        (frozenset({run.id}), True),  # its slot is free
    ]


def test_renaming_a_run_is_reported_without_waking_anyone(client: Any, deployment: Any, heard: list) -> None:
    run = client.create_flow_run_from_deployment(deployment.id)
    heard.clear()
    client.update_flow_run(run.id, name="renamed")
    assert all(not change.may_have_work for change in heard)


def test_queue_and_deployment_changes_are_reported(client: Any, deployment: Any, heard: list) -> None:
    client.create_work_queue("other")
    client.update_deployment(deployment.id, concurrency_limit=3)
    assert [(change.queues_changed, change.deployments_changed, change.may_have_work) for change in heard] == [
        (True, False, True),
        (False, True, True),
    ]


def test_a_rolled_back_transaction_reports_nothing(app: Any, deployment: Any, heard: list) -> None:
    from sluice.server.database.tables import WorkQueueTable

    with app.state.database.session() as session:
        session.add(WorkQueueTable(name="never"))
        session.flush()
        session.rollback()
    assert heard == []


def test_runs_inserted_in_bulk_by_the_scheduler_are_reported_by_id(app: Any, deployment: Any, heard: list) -> None:
    from sluice.server.models.scheduled_runs import DeploymentRunFields, insert_scheduled_runs, new_scheduled_run

    now = datetime.now(UTC)
    fields = DeploymentRunFields(deployment.id, deployment.flow_id, {}, [], deployment.work_queue_name)
    runs = [new_scheduled_run(fields, str(uuid.uuid4()), now, now) for _ in range(3)]
    with app.state.database.session() as session:
        insert_scheduled_runs(session, runs)
        session.commit()
    assert [(change.runs, change.may_have_work) for change in heard] == [(frozenset(run["id"] for run in runs), True)]


def test_a_bulk_update_of_runs_is_reported_as_incomplete(app: Any, client: Any, deployment: Any, heard: list) -> None:
    from sqlalchemy import update

    from sluice.server.database.tables import FlowRunTable

    client.create_flow_run_from_deployment(deployment.id)
    heard.clear()
    with app.state.database.session() as session:
        session.execute(update(FlowRunTable).values(state_type="COMPLETED"))
        session.commit()
    assert [(change.complete, change.may_have_work) for change in heard] == [(False, True)]


def test_the_stores_own_claim_is_not_reported(app: Any, client: Any, deployment: Any, heard: list) -> None:
    run = client.create_flow_run_from_deployment(deployment.id)
    heard.clear()
    result = app.state.queue_store.move_to_pending_if_scheduled([run.id], uuid.uuid4())
    assert result.claimed == [run.id]
    assert heard == []


def test_a_failing_subscriber_does_not_fail_the_commit(app: Any, client: Any, deployment: Any, heard: list) -> None:
    def broken(changes: WorkChanges) -> None:
        raise RuntimeError("a broken subscriber")

    unsubscribe = app.state.queue_store.subscribe(broken)
    try:
        run = client.create_flow_run_from_deployment(deployment.id)
    finally:
        unsubscribe()
    assert client.read_flow_run(run.id).state.type.value == "SCHEDULED"
    assert len(heard) == 1  # the other subscribers still heard of it


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # LISTEN/NOTIFY is PostgreSQL's
def test_another_process_hears_the_run_ids_through_notify(
    app: Any, client: Any, deployment: Any, sluice_plugin_manager: Any
) -> None:
    """A second ``Database`` stands for another server process: it only hears through ``NOTIFY``."""
    from sluice.server.database.change_feed import forget_feed
    from sluice.server.database.engine import Database
    from sluice.server.queue_store import DatabaseQueueStore

    announcing = app.state.queue_store.subscribe(lambda changes: None, other_processes=True)  # so we NOTIFY
    database = Database(app.state.database.url)
    replica = DatabaseQueueStore(database)
    remote: list[WorkChanges] = []
    listening = threading.Event()

    def hear(changes: WorkChanges) -> None:
        listening.set()  # the listener reports once it listens
        if changes.complete:
            remote.append(changes)

    replica.subscribe(hear, other_processes=True)
    try:
        with replica.hearing_other_processes():
            wait_until(listening.is_set, "the replica to LISTEN", timeout=30)
            run = client.create_flow_run_from_deployment(deployment.id)
            found = wait_until(lambda: [change for change in remote if run.id in change.runs], "the notification")
        assert found[0].local is False and found[0].may_have_work
    finally:
        announcing()
        forget_feed(database)
        database.dispose()
