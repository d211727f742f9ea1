"""What the ``redis`` backend does beyond the contract kit: the index heals from the database (a flushed
Redis, runs written behind its back, refused and failed claims), stale knowledge never wins, and a
Redis that cannot be reached is a 503, not a lost commit. Real Redis, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

import sluice_queue_redis
from tests.e2e.processes import free_port, wait_until
from tests.redis_service import delete_prefix, redis_client, redis_prefix

__all__ = ["redis_prefix"]  # a fixture


@pytest.fixture
def settings(settings: Any, redis_prefix: str) -> Any:
    """The server suite's settings, claiming through Redis under the test's own key prefix."""
    return settings.model_copy(update={"queue_backend": "redis"})


@pytest.fixture(autouse=True)
def _redis_backend(sluice_plugin_manager: Any, settings: Any) -> Iterator[None]:
    """The plugin registered before the app is built; each test's backend closed and forgotten after
    it (it reads the test's key prefix when it is made)."""
    from sluice.server.database.engine import get_database
    from sluice.server.queue_backend import forget_queue_backend

    sluice_plugin_manager.register(sluice_queue_redis, name="redis", distribution="sluice-queue-redis")
    database = get_database(settings.effective_database_url, settings)
    forget_queue_backend(database, "redis")
    yield
    forget_queue_backend(database, "redis")


def _claim(client: Any, limit: int = 10, queue: str = "etl-queue") -> list[Any]:
    return client.claim_flow_runs([queue], uuid.uuid4(), limit=limit)


def _write_behind_its_back(app: Any, statement: str, **values: Any) -> None:
    """Change the database on a plain connection: no session, so no change feed hears it."""
    from sqlalchemy import text

    with app.state.database.engine.begin() as connection:
        connection.execute(text(statement), values)


def _record(app: Any, run_id: Any) -> dict[str, Any] | None:
    raw = redis_client().hget(f"{app.state.queue_backend.index.prefix}:runs", str(run_id))
    return None if raw is None else json.loads(raw)


def test_a_flushed_redis_is_rebuilt_from_the_database_by_the_next_claim(
    app: Any, client: Any, deployment: Any, redis_prefix: str
) -> None:
    runs = [client.create_flow_run_from_deployment(deployment.id) for _ in range(3)]
    assert len(_claim(client, limit=1)) == 1
    delete_prefix(redis_client(), redis_prefix)  # a restart of a Redis that keeps nothing
    claimed = _claim(client)
    assert len(claimed) == 2 and {run.id for run in claimed} < {run.id for run in runs}


def test_a_run_written_behind_its_back_is_indexed_by_the_next_rebuild(app: Any, client: Any, deployment: Any) -> None:
    run = client.create_flow_run_from_deployment(deployment.id, state={"type": "PENDING"})
    assert _claim(client) == []  # the first claim builds the index: nothing is SCHEDULED
    _write_behind_its_back(app, "UPDATE flow_run SET state_type = 'SCHEDULED', state_name = 'Scheduled'")
    assert _claim(client) == []  # the index does not know
    assert app.state.queue_backend.rebuild() is True
    assert [claimed.id for claimed in _claim(client)] == [run.id]


def test_the_periodic_rebuild_heals_drift_without_a_claim(
    settings: Any, client: Any, deployment: Any, monkeypatch: pytest.MonkeyPatch, sluice_plugin_manager: Any
) -> None:
    from sluice.server.app import create_app
    from sluice.server.database.engine import get_database
    from sluice.server.queue_backend import forget_queue_backend

    monkeypatch.setenv("SLUICE_REDIS_RECONCILE_SECONDS", "0.2")
    forget_queue_backend(get_database(settings.effective_database_url, settings), "redis")
    app = create_app(settings, run_services=False)
    backend = app.state.queue_backend
    backend.start()  # what the first claim of a server does: build, then rebuild every 0.2 s
    run = client.create_flow_run_from_deployment(deployment.id)
    redis_client().hdel(f"{backend.index.prefix}:runs", str(run.id))  # drift: the record is lost
    redis_client().delete(f"{backend.index.prefix}:ready:etl-queue")
    wait_until(lambda: (_record(app, run.id) or {}).get("s") == "R", "the rebuild to index the run again", timeout=30)


def test_a_run_the_database_refuses_because_it_ended_gives_its_slot_back(
    app: Any, client: Any, deployment: Any
) -> None:
    queue = client.read_work_queue_by_name("etl-queue")
    client.set_work_queue_concurrency_limit(queue.id, 1)
    run = client.create_flow_run_from_deployment(deployment.id)
    app.state.queue_backend.start()  # the index has the run ready
    _write_behind_its_back(app, "UPDATE flow_run SET state_type = 'COMPLETED', state_name = 'Completed'")
    assert _claim(client) == []  # taken from the index (the queue's one slot), refused by the database
    assert _record(app, run.id)["s"] == "D"
    other = client.create_flow_run_from_deployment(deployment.id)
    assert [claimed.id for claimed in _claim(client)] == [other.id]


def test_a_run_the_database_refuses_because_it_is_active_keeps_its_slot(app: Any, client: Any, deployment: Any) -> None:
    queue = client.read_work_queue_by_name("etl-queue")
    client.set_work_queue_concurrency_limit(queue.id, 1)
    run = client.create_flow_run_from_deployment(deployment.id)
    app.state.queue_backend.start()  # the index has the run ready
    _write_behind_its_back(app, "UPDATE flow_run SET state_type = 'PENDING', state_name = 'Pending'")
    assert _claim(client) == []  # taken from the index, refused by the database
    assert _record(app, run.id)["s"] == "A"  # active after all: it keeps the queue's one slot
    other = client.create_flow_run_from_deployment(deployment.id)
    assert _claim(client) == []
    client.set_flow_run_state(run.id, "RUNNING")
    client.set_flow_run_state(run.id, "COMPLETED")
    assert [claimed.id for claimed in _claim(client)] == [other.id]


def test_runs_reserved_by_a_claim_whose_database_step_fails_are_put_back(
    app: Any, client: Any, deployment: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sluice.queues import ClaimRequest

    run = client.create_flow_run_from_deployment(deployment.id)
    backend = app.state.queue_backend
    store = backend.store

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(store, "move_to_pending_if_scheduled", failing)
    request = ClaimRequest(queues=("etl-queue",), limit=10, agent_id=uuid.uuid4())
    with pytest.raises(RuntimeError, match="went away"):
        backend.claim_runs(request)
    monkeypatch.undo()
    assert [claimed.id for claimed in _claim(client)] == [run.id]


def test_an_older_observation_never_overwrites_a_newer_one(app: Any, client: Any, deployment: Any) -> None:
    from sluice_queue_redis.index import observation

    run = client.create_flow_run_from_deployment(deployment.id)
    backend = app.state.queue_backend
    backend.start()
    with backend.store.snapshot() as reads:
        scheduled = reads.read_runs([run.id], reads.queues())[run.id]
    claimed = _claim(client)
    assert [item.id for item in claimed] == [run.id]
    client.set_flow_run_state(run.id, "RUNNING")
    assert backend.index.apply([observation(run.id, scheduled)]) == 0  # the SCHEDULED read arrives late
    assert _record(app, run.id)["s"] == "A"
    assert _claim(client) == []


def test_a_rebuild_leaves_alone_what_was_written_since_it_began(app: Any, client: Any, deployment: Any) -> None:
    from sluice_queue_redis.index import observation

    run = client.create_flow_run_from_deployment(deployment.id)
    backend = app.state.queue_backend
    backend.start()
    started = str(int(backend.index.now()) - 60_000_000)  # a rebuild that began a minute ago
    with backend.store.snapshot() as reads:
        seen_then = reads.read_runs([run.id], reads.queues())[run.id]
    _claim(client)  # the record is written after the rebuild began
    assert backend.index.apply([observation(run.id, seen_then)], mode="reconcile", started=started) == 0
    assert _record(app, run.id)["s"] == "A"


def test_a_redis_that_cannot_be_reached_is_a_503_and_commits_still_happen(
    settings: Any, deployment: Any, monkeypatch: pytest.MonkeyPatch, sluice_plugin_manager: Any
) -> None:
    import httpx

    from sluice.embedded import EmbeddedTransport
    from sluice.server.app import create_app
    from sluice.server.database.engine import get_database
    from sluice.server.queue_backend import forget_queue_backend

    monkeypatch.setenv("SLUICE_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    forget_queue_backend(get_database(settings.effective_database_url, settings), "redis")
    app = create_app(settings, run_services=False)
    with httpx.Client(transport=EmbeddedTransport(app, timeout=60), base_url="http://test") as api:
        created = api.post(f"/api/deployments/{deployment.id}/create_flow_run", json={})
        assert created.status_code == 201  # the run is stored; the index catches up when Redis is back
        answer = api.post("/api/work_queues/claim", json={"queues": ["etl-queue"], "agent_id": str(uuid.uuid4())})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert "the Redis queue index at 127.0.0.1:" in answer.json()["detail"]
    assert "cannot be used now" in answer.json()["detail"]


def test_a_run_past_its_deadline_leaves_the_index_and_the_database_as_it_was(app: Any, client: Any, flow: Any) -> None:
    strict = client.create_deployment("strict", flow.id, work_queue_name="etl-queue", max_lateness=60)
    past = datetime(2000, 1, 1, tzinfo=UTC).isoformat()
    run = client.create_flow_run_from_deployment(strict.id, state={"type": "SCHEDULED", "scheduled_time": past})
    assert _claim(client) == []
    assert client.read_flow_run(run.id).state.type.value == "SCHEDULED"  # for the late-runs service
    assert _record(app, run.id)["s"] == "D"  # never offered again at this state
