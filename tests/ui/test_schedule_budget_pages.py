"""The UI with schedules too costly to compute (sluice_ui.schedule_form and the deployment pages): the
form refuses them next to the schedule field, the preview says why, and a deployment that already
holds one still renders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from tests.server.scheduling_helpers import store_unchecked_schedule
from tests.ui.conftest import post_form


def costly_rule() -> str:
    """A million seconds counted from a day ago: 86,400 candidates to skip, past a budget of 10,000
    (and a fraction of a second of work without one)."""
    day_ago = datetime.now(UTC) - timedelta(days=1)
    return f"DTSTART:{day_ago:%Y%m%dT%H%M%SZ}\nRRULE:FREQ=SECONDLY;COUNT=1000000"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A TestClient over ``create_app()`` with a schedule budget of 10,000 candidates and 0.3 s."""
    from sluice.server.app import create_app

    monkeypatch.setenv("SLUICE_SCHEDULE_MAX_SCANNED", "10000")
    monkeypatch.setenv("SLUICE_SCHEDULE_MAX_SECONDS", "0.3")
    with TestClient(create_app(run_services=False)) as test_client:
        yield test_client


@pytest.fixture
def deployment(client: TestClient) -> dict[str, Any]:
    """An hourly deployment."""
    body = {
        "name": "hourly",
        "flow_name": "etl",
        "work_queue_name": "test",
        "schedule": {"type": "cron", "cron": "0 * * * *"},
    }
    response = client.post("/api/deployments/", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_the_preview_of_a_rule_too_costly_says_why_and_how_to_fix(client: TestClient) -> None:
    params = {"schedule_kind": "rrule", "schedule_rrule": costly_rule()}
    answer = client.get("/ui/schedule-preview", params=params).json()
    assert answer["ok"] is False and answer["dates"] == []
    assert "is too costly to compute: more than 10,000 candidate times scanned" in answer["error"]
    assert "give a DTSTART close to now, drop COUNT, or use a coarser FREQ" in answer["error"]


def test_the_preview_of_a_rule_until_the_end_of_time_lists_its_runs(client: TestClient) -> None:
    params = {"schedule_kind": "rrule", "schedule_rrule": "FREQ=HOURLY;UNTIL=99991231T235959Z"}
    answer = client.get("/ui/schedule-preview", params=params).json()
    assert answer["ok"] is True and len(answer["dates"]) == 5


def test_saving_a_rule_too_costly_shows_why_next_to_the_schedule_and_changes_nothing(
    client: TestClient, deployment: dict[str, Any]
) -> None:
    page = f"/deployments/{deployment['id']}/edit"
    data = {
        "description": "changed",
        "work_queue_name": "test",
        "schedule_kind": "rrule",
        "schedule_rrule": costly_rule(),
    }
    response = post_form(client, page, page, data)
    assert response.status_code == 422
    assert 'id="error-schedule"' in response.text and "is too costly to compute" in response.text
    stored = client.get(f"/api/deployments/{deployment['id']}").json()
    assert stored["description"] is None and stored["schedule"]["cron"] == "0 * * * *"


def test_a_deployment_holding_a_schedule_too_costly_still_renders(
    client: TestClient, deployment: dict[str, Any]
) -> None:
    # Searched second by second up to the year 9999: building it alone never ends without a budget.
    never_fires = {"type": "rrule", "rrule": "FREQ=SECONDLY;BYSETPOS=2"}
    store_unchecked_schedule(client.app, UUID(deployment["id"]), never_fires)
    for page in (f"/deployments/{deployment['id']}", f"/deployments/{deployment['id']}/edit"):
        assert client.get(page).status_code == 200, page
    listed = client.get("/deployments")
    assert listed.status_code == 200
    assert "unreadable schedule" in listed.text and "is too costly to compute" in listed.text
