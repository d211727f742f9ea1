"""``POST /api/work_queues/claim`` with the ``sql`` queue backend, on SQLite and PostgreSQL.

Runs are "executed" by a stand-in engine: it proposes RUNNING, writes a file named after the run with
``O_EXCL`` (a second execution of one run fails loudly), and proposes COMPLETED. Limits are checked on
the state history: every run is active from its PENDING row to its final row, and at no instant may
more runs be active than the limit allows.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import sluice_queue_sql
from tests.e2e.processes import wait_until


@pytest.fixture(autouse=True)
def _sql_backend(sluice_plugin_manager: Any) -> None:
    """The queue backend plugin, registered before the app is built."""
    sluice_plugin_manager.register(sluice_queue_sql, name="sql", distribution="sluice-queue-sql")


def _runs(client: Any, deployment: Any, count: int, **fields: Any) -> list[Any]:
    return [client.create_flow_run_from_deployment(deployment.id, **fields) for _ in range(count)]


def _claim(client: Any, queue: str, agent_id: Any, limit: int = 10, **options: Any) -> list[Any]:
    return client.claim_flow_runs([queue], agent_id, limit=limit, **options)


def _execute(client: Any, run: Any, side_effects: Path) -> None:
    """The stand-in engine: RUNNING, one side effect keyed by the run id, COMPLETED."""
    result = client.set_flow_run_state(run.id, "RUNNING")
    assert result.status == "ACCEPT", result.reason
    fd = os.open(side_effects / str(run.id), os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails on a second run
    os.close(fd)
    client.read_flow_run(run.id)  # some work while the run holds its slot
    assert client.set_flow_run_state(run.id, "COMPLETED").status == "ACCEPT"


def _agents(count: int, work: Callable[[uuid.UUID], None]) -> None:
    """Run ``work(agent_id)`` in ``count`` threads and re-raise the first error."""
    errors: list[BaseException] = []

    def target(agent_id: uuid.UUID) -> None:
        try:
            work(agent_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(uuid.uuid4(),)) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _drain(client: Any, queue: str, side_effects: Path, batch: int = 25) -> Callable[[uuid.UUID], None]:
    """An agent loop: claim and execute until a claim comes back empty and nothing is left."""

    def work(agent_id: uuid.UUID) -> None:
        while True:
            runs = _claim(client, queue, agent_id, limit=batch)
            for run in runs:
                _execute(client, run, side_effects)
            if not runs and not client.filter_flow_runs(work_queue_names=[queue], state_types=["SCHEDULED"], limit=1):
                return

    return work


def _max_active(client: Any, runs: list[Any]) -> int:
    """The most runs active (PENDING until final) at one instant, from the state histories."""
    events: list[tuple[datetime, int]] = []
    for run in runs:
        history = client.read_flow_run_states(run.id)
        start = next(entry.timestamp for entry in history if entry.type.value == "PENDING")
        end = next(entry.timestamp for entry in history if entry.type.value == "COMPLETED")
        events += [(start, 1), (end, -1)]
    active = peak = 0
    for _, change in sorted(events, key=lambda event: (event[0], event[1])):  # ends before starts on ties
        active += change
        peak = max(peak, active)
    return peak


def test_a_claim_moves_due_runs_to_pending_for_the_agent(client: Any, deployment: Any) -> None:
    run = _runs(client, deployment, 1)[0]
    agent_id = uuid.uuid4()
    claimed = _claim(client, "etl-queue", agent_id)
    assert [r.id for r in claimed] == [run.id]
    assert claimed[0].state.type.value == "PENDING" and claimed[0].agent_id == agent_id
    history = [entry.type.value for entry in client.read_flow_run_states(run.id)]
    assert history == ["SCHEDULED", "PENDING"]
    assert _claim(client, "etl-queue", uuid.uuid4()) == []


def test_a_claim_is_exclusive_between_concurrent_agents(client: Any, deployment: Any) -> None:
    runs = _runs(client, deployment, 30)
    claimed: list[list[Any]] = []
    lock = threading.Lock()

    def work(agent_id: uuid.UUID) -> None:
        while got := _claim(client, "etl-queue", agent_id, limit=3):
            with lock:
                claimed.append(got)

    _agents(4, work)
    ids = [run.id for batch in claimed for run in batch]
    assert sorted(ids) == sorted(run.id for run in runs)
    assert len(set(ids)) == len(ids)


def _bulk_runs(app: Any, deployment: Any, count: int) -> list[uuid.UUID]:
    """Insert ``count`` SCHEDULED runs of the deployment at once, straight into the database."""
    from sqlalchemy import insert

    from sluice.schemas.states import StateCreate
    from sluice.server.database.tables import FlowRunStateTable, FlowRunTable
    from sluice.server.orchestration import apply_state

    now = datetime.now(UTC)
    runs, history = [], []
    for number in range(count):
        run = SimpleNamespace(
            id=uuid.uuid4(), created=now, updated=now, name=f"bulk-{number}", flow_id=deployment.flow_id,
            deployment_id=deployment.id, work_queue_name=deployment.work_queue_name, parameters={}, tags=[],
            expected_start_time=now, next_scheduled_start_time=None, state_type=None, state_name=None,
            start_time=None, end_time=None, run_count=0, auto_scheduled=False,
        )  # fmt: skip
        history.append(apply_state(run, StateCreate(type="SCHEDULED"), now))
        runs.append(vars(run))
    with app.state.database.session() as session:
        session.execute(insert(FlowRunTable.__table__), runs)
        session.execute(insert(FlowRunStateTable.__table__), history)
        session.commit()
    return [run["id"] for run in runs]


def _complete_directly(app: Any, run_ids: list[uuid.UUID]) -> None:
    """Set claimed runs COMPLETED in one statement: the fast stand-in engine's last step."""
    from sqlalchemy import update

    from sluice.server.database.tables import FlowRunTable

    with app.state.database.session() as session:
        session.execute(update(FlowRunTable).where(FlowRunTable.id.in_(run_ids)).values(state_type="COMPLETED"))
        session.commit()


@pytest.mark.slow
def test_four_agents_run_every_one_of_a_thousand_runs_exactly_once(
    app: Any, client: Any, deployment: Any, tmp_path: Path
) -> None:
    run_ids = _bulk_runs(app, deployment, 1000)
    claims: list[int] = []

    def work(agent_id: uuid.UUID) -> None:
        while runs := _claim(client, "etl-queue", agent_id, limit=25):
            assert all(run.agent_id == agent_id and run.state_type.value == "PENDING" for run in runs)
            for run in runs:  # the stand-in engine: one side effect per execution, keyed by run id
                os.close(os.open(tmp_path / str(run.id), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            _complete_directly(app, [run.id for run in runs])
            claims.append(len(runs))

    _agents(4, work)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(str(run_id) for run_id in run_ids)
    assert sum(claims) == 1000
    assert client.filter_flow_runs(deployment_ids=[deployment.id], state_types=["SCHEDULED", "PENDING"]) == []
    history = client.read_flow_run_states(run_ids[500])
    assert [entry.type.value for entry in history] == ["SCHEDULED", "PENDING"]


def test_a_paused_queue_hands_out_nothing_until_resumed(client: Any, deployment: Any) -> None:
    _runs(client, deployment, 3)
    queue = client.read_work_queue_by_name("etl-queue")
    client.pause_work_queue(queue.id)
    assert _claim(client, "etl-queue", uuid.uuid4()) == []
    client.resume_work_queue(queue.id)
    assert len(_claim(client, "etl-queue", uuid.uuid4())) == 3


def test_a_queue_limit_of_two_never_has_three_runs_active(client: Any, deployment: Any, tmp_path: Path) -> None:
    runs = _runs(client, deployment, 12)
    client.set_work_queue_concurrency_limit(client.read_work_queue_by_name("etl-queue").id, 2)
    assert len(_claim(client, "etl-queue", uuid.uuid4(), limit=10)) == 2  # the first claim fills the queue
    for run in client.filter_flow_runs(deployment_ids=[deployment.id], state_types=["PENDING"]):
        _execute(client, run, tmp_path)
    _agents(4, _drain(client, "etl-queue", tmp_path, batch=5))
    assert len(list(tmp_path.iterdir())) == 12
    assert _max_active(client, runs) == 2


def test_a_deployment_limit_of_one_never_has_two_runs_active(client: Any, deployment: Any, tmp_path: Path) -> None:
    client.update_deployment(deployment.id, concurrency_limit=1)
    runs = _runs(client, deployment, 8)
    assert len(_claim(client, "etl-queue", uuid.uuid4(), limit=10)) == 1
    assert _claim(client, "etl-queue", uuid.uuid4(), limit=10) == []  # over the limit: the rest wait
    for run in client.filter_flow_runs(deployment_ids=[deployment.id], state_types=["PENDING"]):
        _execute(client, run, tmp_path)
    _agents(4, _drain(client, "etl-queue", tmp_path, batch=5))
    assert len(list(tmp_path.iterdir())) == 8
    assert _max_active(client, runs) == 1


def test_runs_of_a_full_deployment_do_not_hide_other_deployments_runs(client: Any, deployment: Any, flow: Any) -> None:
    client.update_deployment(deployment.id, concurrency_limit=1)
    _runs(client, deployment, 5)
    other = client.create_deployment("hourly", flow.id, work_queue_name="etl-queue")
    later = datetime.now(UTC) + timedelta(milliseconds=1)
    other_run = client.create_flow_run_from_deployment(
        other.id, state={"type": "SCHEDULED", "scheduled_time": later.isoformat()}
    )
    agent_id = uuid.uuid4()
    claimed = _claim(client, "etl-queue", agent_id, limit=10, prefetch_seconds=60)
    assert len(claimed) == 2 and other_run.id in {run.id for run in claimed}


def test_the_long_poll_answers_when_a_run_is_created(client: Any, deployment: Any) -> None:
    answer: list[Any] = []
    waiting = threading.Thread(target=lambda: answer.extend(_claim(client, "etl-queue", uuid.uuid4(), wait_seconds=30)))
    waiting.start()
    run = _runs(client, deployment, 1)[0]
    waiting.join()
    assert [r.id for r in answer] == [run.id]


def test_the_long_poll_answers_when_a_future_run_becomes_due(client: Any, deployment: Any) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1)
    run = client.create_flow_run_from_deployment(deployment.id, state={"type": "SCHEDULED", "scheduled_time": soon})
    claimed = _claim(client, "etl-queue", uuid.uuid4(), wait_seconds=30)
    assert [r.id for r in claimed] == [run.id]
    assert datetime.now(UTC) >= soon


def _recorded_waits(backend: Any, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The timeouts of the backend's waits for a notification (each returns at once instead)."""
    waits: list[float] = []

    async def recording_wait(timeout: float, since: int | None = None) -> None:
        waits.append(timeout)

    monkeypatch.setattr(backend.work_signal, "wait", recording_wait)
    return waits


def _wait_for_work(backend: Any, queue: str, timeout: float) -> None:
    import asyncio

    from sluice.queues import ClaimRequest

    request = ClaimRequest(queues=(queue,), limit=10, agent_id=uuid.uuid4())
    asyncio.run(backend.wait_for_work(request, timeout, since=backend.work_version()))


def test_a_run_that_came_due_before_the_wait_ends_it_without_a_notification(
    app: Any, client: Any, deployment: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run came due between the agent's empty claim and its wait: nothing will notify, so the long
    poll must claim again at once rather than sleep out its time."""
    waits = _recorded_waits(app.state.queue_backend, monkeypatch)
    _runs(client, deployment, 1)  # due now, created before the wait takes its version
    _wait_for_work(app.state.queue_backend, "etl-queue", timeout=60)
    assert waits == []


def test_due_runs_of_a_full_deployment_leave_the_wait_to_a_notification(
    app: Any, client: Any, deployment: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.update_deployment(deployment.id, concurrency_limit=1)
    _runs(client, deployment, 2)
    assert len(_claim(client, "etl-queue", uuid.uuid4())) == 1  # the other one is due but over the limit
    waits = _recorded_waits(app.state.queue_backend, monkeypatch)
    _wait_for_work(app.state.queue_backend, "etl-queue", timeout=60)
    assert waits == [60]  # a whole wait for a freed slot, not a spin on the due run


def test_a_wait_ends_when_the_next_run_comes_due(
    app: Any, client: Any, deployment: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)
    client.create_flow_run_from_deployment(deployment.id, state={"type": "SCHEDULED", "scheduled_time": later})
    waits = _recorded_waits(app.state.queue_backend, monkeypatch)
    _wait_for_work(app.state.queue_backend, "etl-queue", timeout=600)
    assert len(waits) == 1 and 0 < waits[0] <= 31


def test_prefetch_claims_runs_due_within_the_window_only(client: Any, deployment: Any) -> None:
    later = datetime.now(UTC) + timedelta(minutes=5)
    run = client.create_flow_run_from_deployment(deployment.id, state={"type": "SCHEDULED", "scheduled_time": later})
    assert _claim(client, "etl-queue", uuid.uuid4(), prefetch_seconds=60) == []
    assert [r.id for r in _claim(client, "etl-queue", uuid.uuid4(), prefetch_seconds=600)] == [run.id]


def test_runs_awaiting_an_in_place_retry_are_not_claimed(client: Any, deployment: Any) -> None:
    run = _runs(client, deployment, 1)[0]
    _claim(client, "etl-queue", uuid.uuid4())
    client.set_flow_run_state(run.id, "RUNNING")
    retry = {"type": "SCHEDULED", "name": "AwaitingRetry"}
    assert client.set_flow_run_state(run.id, retry).status == "ACCEPT"
    assert _claim(client, "etl-queue", uuid.uuid4()) == []


def test_a_legacy_tag_queue_hands_out_runs_of_deployments_with_all_its_tags(
    client: Any, deployment: Any, flow: Any
) -> None:
    client.create_work_queue("legacy", filter=["etl", "nightly"])
    client.create_work_queue("legacy-missing-tag", filter=["etl", "hourly"])
    run = _runs(client, deployment, 1)[0]
    assert _claim(client, "legacy-missing-tag", uuid.uuid4()) == []
    assert [r.id for r in _claim(client, "legacy", uuid.uuid4())] == [run.id]


def test_match_claims_from_every_queue_with_the_prefix(client: Any, deployment: Any) -> None:
    run = _runs(client, deployment, 1)[0]
    claimed = client.claim_flow_runs([], uuid.uuid4(), match="etl-")
    assert [r.id for r in claimed] == [run.id]


def test_claiming_records_last_polled_on_the_queues(client: Any, deployment: Any) -> None:
    before = datetime.now(UTC)
    _claim(client, "etl-queue", uuid.uuid4())
    polled = client.read_work_queue_by_name("etl-queue").last_polled
    assert polled is not None and polled >= before - timedelta(seconds=1)


def test_a_claim_with_a_bad_body_is_a_422(api: Any) -> None:
    answer = api.post("/api/work_queues/claim", json={"queues": ["q"], "agent_id": "nope"})
    assert answer.status_code == 422
    assert "detail" in answer.json()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # LISTEN/NOTIFY is PostgreSQL's
def test_another_replica_hears_of_a_new_run_through_listen_notify(app: Any, client: Any, deployment: Any) -> None:
    """A second ``Database`` with its own backend stands for another server process on PostgreSQL:
    it only hears of the new run through ``NOTIFY sluice_work``."""
    import asyncio

    from sluice.queues import ClaimRequest
    from sluice.server.database.change_feed import feed_of, forget_feed
    from sluice.server.database.engine import Database
    from sluice.server.queue_store import DatabaseQueueStore
    from sluice_queue_sql.backend import SqlQueueBackend

    database = Database(app.state.database.url)
    replica = SqlQueueBackend(DatabaseQueueStore(database))
    try:
        before = replica.work_version()
        with replica.store.hearing_other_processes():  # the listener bumps the version once it listens
            wait_until(lambda: replica.work_version() != before, "the replica to LISTEN", timeout=30)
        request = ClaimRequest(queues=("etl-queue",), limit=1, agent_id=uuid.uuid4())
        since = replica.work_version()
        waiter = threading.Thread(target=lambda: asyncio.run(replica.wait_for_work(request, 60, since=since)))
        waiter.start()
        run = _runs(client, deployment, 1)[0]
        waiter.join()
        assert replica.work_version() != since  # woken by the notification, not by the time running out
        assert [claimed.id for claimed in replica.claim_runs(request)] == [run.id]
    finally:
        replica.close()
        assert feed_of(database) is replica.store.change_feed
        forget_feed(database)
        database.dispose()
