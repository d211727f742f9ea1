"""Rows that servers before the body checks stored, or that are corrupt: they are readable, and a
claim never leaves runs PENDING that no agent received (server/database/types.py, queue_sql's claim).

The rows are written straight into the table, as the old code wrote them: on SQLite a lone surrogate
was kept as a JSON escape (``"\\ud800"``), and every answer holding the row then failed; a claim moved
its runs to PENDING, failed building its answer, and the healthy runs among them stayed PENDING.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import sqlalchemy as sa

import sluice_queue_sql


@pytest.fixture(autouse=True)
def _sql_backend(sluice_plugin_manager: Any) -> None:
    """The queue backend plugin, registered before the app is built."""
    sluice_plugin_manager.register(sluice_queue_sql, name="sql", distribution="sluice-queue-sql")


def _store_raw_json(app: Any, table_name: str, column: str, row_id: str, text: str) -> None:
    """Write ``text`` as the JSON of ``column`` of one row, bypassing the API and its checks."""
    from sluice.server.database.tables import FlowRunTable

    database = app.state.database
    value = ":value" if database.is_sqlite else "CAST(:value AS jsonb)"
    statement = sa.text(f'UPDATE "{table_name}" SET "{column}" = {value} WHERE id = :id').bindparams(
        sa.bindparam("id", type_=FlowRunTable.__table__.c.id.type)
    )
    with database.engine.begin() as connection:
        assert connection.execute(statement, {"value": text, "id": UUID(row_id)}).rowcount == 1


#: Rows only SQLite ever stored: PostgreSQL's jsonb refused lone surrogates and NaN from the start.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def deployment_id(api: httpx.Client) -> str:
    """A deployment ``etl/nightly`` on the queue ``etl-queue``."""
    body = {"name": "nightly", "flow_name": "etl", "work_queue_name": "etl-queue", "parameters": {"rows": 1}}
    return api.post("/api/deployments/", json=body).json()["id"]


def _new_runs(api: httpx.Client, deployment_id: str, count: int) -> list[str]:
    return [api.post(f"/api/deployments/{deployment_id}/create_flow_run", json={}).json()["id"] for _ in range(count)]


def _claim(api: httpx.Client, limit: int = 10) -> httpx.Response:
    return api.post("/api/work_queues/claim", json={"queues": ["etl-queue"], "agent_id": str(uuid4()), "limit": limit})


def _ids_in(api: httpx.Client, state_type: str) -> set[str]:
    runs = api.post("/api/flow_runs/filter", json={"state_types": [state_type]}).json()
    return {run["id"] for run in runs}


@sqlite_only
def test_a_run_stored_with_a_lone_surrogate_is_read_with_a_replacement_character(app, api, deployment_id):
    (run_id,) = _new_runs(api, deployment_id, 1)
    _store_raw_json(app, "flow_run", "parameters", run_id, '{"name": "\\ud800"}')

    response = api.get(f"/api/flow_runs/{run_id}")

    assert response.status_code == 200
    assert response.json()["parameters"] == {"name": "\ufffd"}


@sqlite_only
def test_a_run_stored_with_nan_is_read_with_null(app, api, deployment_id):
    (run_id,) = _new_runs(api, deployment_id, 1)
    _store_raw_json(app, "flow_run", "parameters", run_id, '{"x": NaN, "y": Infinity}')

    response = api.get(f"/api/flow_runs/{run_id}")

    assert response.status_code == 200
    assert response.json()["parameters"] == {"x": None, "y": None}


@sqlite_only
def test_runs_stored_with_lone_surrogates_do_not_break_the_filter(app, api, deployment_id):
    run_ids = _new_runs(api, deployment_id, 3)
    _store_raw_json(app, "flow_run", "tags", run_ids[1], '["\\udfff"]')

    response = api.post("/api/flow_runs/filter", json={})

    assert response.status_code == 200
    assert {run["id"] for run in response.json()} == set(run_ids)


@sqlite_only
def test_a_deployment_stored_with_a_lone_surrogate_is_listed(app, api, deployment_id):
    _store_raw_json(app, "deployment", "parameters", deployment_id, '{"rows": "\\udc80"}')

    response = api.post("/api/deployments/filter", json={})

    assert response.status_code == 200
    assert response.json()[0]["parameters"] == {"rows": "\ufffd"}


@sqlite_only
def test_a_claim_hands_out_a_run_stored_with_a_lone_surrogate_with_the_others(app, api, deployment_id):
    run_ids = _new_runs(api, deployment_id, 3)
    _store_raw_json(app, "flow_run", "parameters", run_ids[0], '{"name": "\\ud800"}')

    response = _claim(api)

    assert response.status_code == 200
    assert {run["id"] for run in response.json()} == set(run_ids)
    assert _ids_in(api, "PENDING") == set(run_ids)


def test_a_run_whose_answer_cannot_be_built_is_crashed_and_the_others_are_claimed(app, api, deployment_id):
    run_ids = _new_runs(api, deployment_id, 3)
    broken = run_ids[1]
    _store_raw_json(app, "flow_run", "parameters", broken, '"not an object"')  # FlowRun.parameters is a dict

    response = _claim(api)

    assert response.status_code == 200
    claimed = {run["id"] for run in response.json()}
    assert claimed == set(run_ids) - {broken}
    assert _ids_in(api, "PENDING") == claimed  # every PENDING run reached the agent
    assert _ids_in(api, "CRASHED") == {broken}
    states = api.get(f"/api/flow_runs/{broken}/states").json()
    assert [state["type"] for state in states] == ["SCHEDULED", "CRASHED"]
    assert states[-1]["message"].startswith(
        "Sluice could not hand this run to an agent, its stored data cannot be read: ValidationError:"
    )


def test_a_run_that_cannot_be_read_leaves_the_queue_and_stops_holding_it_up(app, api, deployment_id):
    run_ids = _new_runs(api, deployment_id, 2)  # the first is the oldest: every claim took it first
    _store_raw_json(app, "flow_run", "parameters", run_ids[0], "[1, 2]")

    first, second = _claim(api, limit=1), _claim(api, limit=1)

    assert (first.status_code, first.json()) == (200, [])
    assert [run["id"] for run in second.json()] == [run_ids[1]]
    assert _ids_in(api, "CRASHED") == {run_ids[0]}


def test_a_corrupt_run_is_read_with_the_unfit_field_at_its_default(app, api, deployment_id):
    (run_id,) = _new_runs(api, deployment_id, 1)
    _store_raw_json(app, "flow_run", "parameters", run_id, '"not an object"')

    response = api.get(f"/api/flow_runs/{run_id}")

    assert response.status_code == 200
    assert response.json()["parameters"] == {}
