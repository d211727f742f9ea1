"""The scheduler with a broken schedule plugin installed: only the deployments of the broken type
go without runs (issue 13, item 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pytest

from sluice.hookspecs import hookimpl
from sluice.schedules import Schedule
from tests.server.scheduling_helpers import clock, make_scheduler, schedule_types, times_of

__all__ = ["clock", "schedule_types"]  # fixtures


class RivalCron(Schedule):
    """Another plugin's 'cron'."""

    type: Literal["cron"] = "cron"
    cron: str = "* * * * *"

    def get_dates(self, n: int, start: datetime | None = None, end: datetime | None = None) -> list[datetime]:
        return []

    def describe(self) -> str:
        return "rival"


class RivalCronPlugin:
    @hookimpl
    def register_schedules(self, register: Any) -> None:
        register(RivalCron)


def test_a_schedule_slug_two_plugins_claim_stops_only_its_own_deployments(
    client, flow, app, settings, clock, schedule_types
):
    cron = client.create_deployment("hourly", flow.id, schedule={"type": "cron", "cron": "0 * * * *"})
    interval = client.create_deployment("every-hour", flow.id, schedule={"type": "interval", "interval": 3600})
    schedule_types.register(RivalCronPlugin(), name="rival-cron", distribution="acme-sluice-cron")
    scheduler = make_scheduler(app, settings, clock, scheduler_max_runs=3, scheduler_min_runs=3)
    with pytest.warns(UserWarning, match=r"the schedule type 'cron' is also registered by"):
        scheduler.schedule_runs()
    assert len(times_of(app, interval.id)) == 3
    assert times_of(app, cron.id) == []
