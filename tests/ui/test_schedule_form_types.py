"""The Edit form's schedule part is generated from the schedule types' JSON schemas: a type only a
third-party plugin provides can be chosen, filled in, previewed and saved (issue 13, item 4)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Literal

import pytest
from fastapi.testclient import TestClient
from pydantic import Field

from sluice.hookspecs import hookimpl
from sluice.plugins import PluginManager, use_plugin_manager
from sluice.schedules import Schedule, wall_clock_dates
from tests.ui.conftest import post_form


class Daily(Schedule):
    """Once a day at a wall-clock time, weekdays only if asked."""

    type: Literal["acme-daily"] = "acme-daily"
    at: str = Field(pattern=r"^\d\d:\d\d$", title="At (HH:MM)", description="Local time of the run.")
    weekdays_only: bool = Field(default=True, description="Skip Saturdays and Sundays.")

    def get_dates(self, n: int, start: datetime | None = None, end: datetime | None = None) -> list[datetime]:
        begin, end = self._bounds(start, end)
        hour, minute = (int(part) for part in self.at.split(":"))

        def candidates(naive_from: datetime) -> Iterator[datetime]:
            day = naive_from.replace(hour=hour, minute=minute, second=0, microsecond=0)
            while True:
                if not self.weekdays_only or day.weekday() < 5:
                    yield day
                day += timedelta(days=1)

        return wall_clock_dates(candidates, self.zone, n, begin, end)

    def describe(self) -> str:
        return f"at {self.at} on {'weekdays' if self.weekdays_only else 'every day'}"


class DailyPlugin:
    @hookimpl
    def register_schedules(self, register: Any) -> None:
        register(Daily)


@pytest.fixture
def client() -> Iterator[TestClient]:
    """The UI over a fresh database, with the installed plugins and ``acme-daily``."""
    from sluice.server.app import create_app

    manager = PluginManager()
    manager.register(DailyPlugin(), name="acme-daily", distribution="acme-daily")
    with use_plugin_manager(manager), TestClient(create_app(run_services=False)) as test_client:
        yield test_client


def test_the_edit_form_offers_the_plugin_type_with_inputs_from_its_schema(
    client: TestClient, deployment: dict[str, Any]
) -> None:
    html = client.get(f"/deployments/{deployment['id']}/edit").text
    assert '<option value="acme-daily" >acme-daily</option>' in html
    assert '<div data-kind="acme-daily"><div class="field" data-field="at">' in html
    assert 'id="schedule_weekdays_only" name="schedule_weekdays_only" value="true" checked' in html
    assert 'data-kind="acme-daily cron interval rrule"><div class="field" data-field="timezone">' in html


def test_a_plugin_type_is_saved_from_the_form_and_shown_again(client: TestClient, deployment: dict[str, Any]) -> None:
    page = f"/deployments/{deployment['id']}/edit"
    form = {
        "work_queue_name": "test",
        "param.count": "2",
        "schedule_kind": "acme-daily",
        "schedule_at": "07:45",
        "schedule_weekdays_only": ["false"],
        "schedule_timezone": "Europe/Paris",
    }
    response = post_form(client, page, page, form)
    assert response.status_code == 303, response.text
    stored = client.get(f"/api/deployments/{deployment['id']}").json()["schedule"]
    assert stored == {"type": "acme-daily", "at": "07:45", "weekdays_only": False, "timezone": "Europe/Paris"}
    html = client.get(page).text
    assert '<option value="acme-daily" selected>' in html and 'value="07:45"' in html
    assert 'name="schedule_weekdays_only" value="true" >' in html  # unticked, as saved


def test_a_plugin_type_is_previewed_with_its_describe(client: TestClient) -> None:
    params = {"schedule_kind": "acme-daily", "schedule_at": "06:30", "schedule_weekdays_only": "true"}
    answer = client.get("/ui/schedule-preview", params=params).json()
    assert answer["ok"], answer["error"]
    assert answer["description"] == "at 06:30 on weekdays" and len(answer["dates"]) == 5
    assert all("T06:30:00" in date for date in answer["dates"])


def test_a_wrong_value_of_a_plugin_type_is_shown_and_nothing_is_saved(
    client: TestClient, deployment: dict[str, Any]
) -> None:
    page = f"/deployments/{deployment['id']}/edit"
    form = {"work_queue_name": "test", "param.count": "2", "schedule_kind": "acme-daily", "schedule_at": "7 am"}
    response = post_form(client, page, page, form)
    assert response.status_code == 422
    assert 'id="error-schedule"' in response.text and "invalid acme-daily schedule: at:" in response.text
    assert 'value="7 am"' in response.text  # what was typed is kept
    assert client.get(f"/api/deployments/{deployment['id']}").json()["schedule"]["type"] == "cron"
