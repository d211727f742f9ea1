"""Schedules the API refuses before storing them (server/models/deployment_schedules.py, under the app's
schedule budget set by server/schedule_budget.py): too costly to compute, or outside the dates a
datetime can hold. Each refusal is a one-line 422 that changes nothing."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.server.scheduling_helpers import schedule_types, store_unchecked_schedule

__all__ = ["schedule_types"]  # fixtures

COSTLY_COUNT = {"type": "rrule", "rrule": "FREQ=SECONDLY;COUNT=1000000000"}
NEVER_FIRES = {"type": "rrule", "rrule": "FREQ=SECONDLY;BYSETPOS=2"}
HOURLY = {"type": "cron", "cron": "0 * * * *"}


@pytest.fixture
def settings(settings: Any) -> Any:
    """A small schedule budget: a costly schedule is refused in a moment, by the scanned limit."""
    return settings.model_copy(update={"schedule_max_scanned": 10_000, "schedule_max_seconds": 0.5})


def deployment_body(schedule: dict[str, Any] | None, name: str = "d") -> dict[str, Any]:
    return {"name": name, "flow_name": "etl", "schedule": schedule}


def assert_refused(response: Any, *fragments: str) -> str:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail, detail
    for fragment in fragments:
        assert fragment in detail, detail
    return detail


def test_a_count_rule_too_costly_to_compute_is_refused_at_creation_saying_why_and_how_to_fix(api):
    response = api.post("/api/deployments/", json=deployment_body(COSTLY_COUNT))
    assert_refused(
        response,
        'the rrule schedule {"rrule":"FREQ=SECONDLY;COUNT=1000000000"} is too costly to compute',
        "more than 10,000 candidate times scanned (the limit is SLUICE_SCHEDULE_MAX_SCANNED)",
        "give a DTSTART close to now, drop COUNT, or use a coarser FREQ",
    )
    assert api.post("/api/deployments/filter", json={}).json() == []


def test_a_rule_searched_forever_is_refused_within_the_time_limit(api):
    response = api.post("/api/deployments/", json=deployment_body(NEVER_FIRES))
    assert_refused(response, "more than 0.5 s of computing (the limit is SLUICE_SCHEDULE_MAX_SECONDS)")
    assert api.post("/api/deployments/filter", json={}).json() == []


def test_updating_to_a_costly_schedule_is_refused_and_changes_nothing(api):
    created = api.post("/api/deployments/", json=deployment_body(HOURLY)).json()
    response = api.patch(f"/api/deployments/{created['id']}", json={"schedule": COSTLY_COUNT})
    assert_refused(response, "is too costly to compute")
    listed = api.patch(f"/api/deployments/{created['id']}", json={"schedules": [{"schedule": COSTLY_COUNT}]})
    assert_refused(listed, "is too costly to compute")
    upsert = api.post("/api/deployments/", json=deployment_body(COSTLY_COUNT))
    assert_refused(upsert, "is too costly to compute")
    stored = api.get(f"/api/deployments/{created['id']}").json()
    assert stored["schedule"]["cron"] == "0 * * * *" and stored["updated"] == created["updated"]


@pytest.mark.parametrize(
    "schedule",
    [
        {"type": "rrule", "rrule": "FREQ=SECONDLY;UNTIL=99991231T235959Z"},
        {"type": "rrule", "rrule": "FREQ=DAILY;UNTIL=99991231", "timezone": "America/New_York"},
        {"type": "rrule", "rrule": "DTSTART:99991231T235959\nRRULE:FREQ=SECONDLY"},
        {"type": "interval", "interval": 3600, "anchor_date": "9999-12-31T09:00:00Z", "timezone": "Pacific/Kiritimati"},
    ],
)
def test_schedules_reaching_the_end_of_time_are_stored(api, schedule):
    response = api.post("/api/deployments/", json=deployment_body(schedule))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        (
            {"type": "rrule", "rrule": "DTSTART;TZID=America/New_York:99991231T230000\nRRULE:FREQ=HOURLY"},
            "the date '99991231T230000' falls outside the years 1-9999 once read in UTC or in America/New_York",
        ),
        (
            {"type": "interval", "interval": 86400, "anchor_date": "0001-01-01T00:00:00+05:00"},
            "anchor_date 0001-01-01T00:00:00+05:00 falls outside the years 1-9999 once read in UTC",
        ),
    ],
)
def test_a_date_outside_the_representable_range_is_a_422(api, schedule, fragment):
    assert_refused(api.post("/api/deployments/", json=deployment_body(schedule)), fragment)
    assert api.post("/api/deployments/filter", json={}).json() == []


def test_backfilling_a_stored_schedule_too_costly_to_compute_is_a_422(api, app):
    created = api.post("/api/deployments/", json=deployment_body(HOURLY)).json()
    store_unchecked_schedule(app, UUID(created["id"]), COSTLY_COUNT)
    window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
    response = api.post(f"/api/deployments/{created['id']}/backfill", json=window)
    assert_refused(response, "is too costly to compute")


def test_a_backfill_window_at_the_edges_of_time_is_answered(api):
    created = api.post("/api/deployments/", json=deployment_body({**HOURLY, "timezone": "Pacific/Kiritimati"})).json()
    window = {"start": "9999-12-31T00:00:00Z", "end": "9999-12-31T23:59:59Z", "dry_run": True}
    response = api.post(f"/api/deployments/{created['id']}/backfill", json=window)
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 10  # 00:00 to 09:00 UTC: 10:00 UTC is the year 10000 in UTC+14
