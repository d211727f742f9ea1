"""Helpers of the scheduler tests: a controllable clock, schedulers with their own settings, and
reading a deployment's runs straight from the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from sluice.server.database.tables import FlowRunStateTable, FlowRunTable


def future_midnight() -> datetime:
    """Midnight UTC two days from now: far enough ahead that every run a test makes is still in the
    future for the API routes, which use the wall clock."""
    return (datetime.now(UTC) + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)


class Clock:
    """A clock the test moves by hand; no sleeps."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)`` and return the new time."""
        self.now += timedelta(**delta)
        return self.now


def make_scheduler(app: Any, settings: Any, clock: Clock, database: Any = None, **overrides: Any) -> Any:
    """A ``Scheduler`` on the app's database (or ``database``) with settings ``overrides``."""
    from sluice.server.services.scheduler import Scheduler

    return Scheduler(database or app.state.database, settings.model_copy(update=overrides), clock=clock)


def make_late_runs(app: Any, settings: Any, clock: Clock, **overrides: Any) -> Any:
    """A ``LateRuns`` service on the app's database with settings ``overrides``."""
    from sluice.server.services.late_runs import LateRuns

    return LateRuns(app.state.database, settings.model_copy(update=overrides), clock=clock)


def runs_of(app: Any, deployment_id: Any, auto: bool | None = True) -> list[FlowRunTable]:
    """The deployment's runs (auto-scheduled ones by default), by expected start time."""
    query = select(FlowRunTable).where(FlowRunTable.deployment_id == deployment_id)
    if auto is not None:
        query = query.where(FlowRunTable.auto_scheduled.is_(auto))
    with app.state.database.read_session() as session:
        return list(session.scalars(query.order_by(FlowRunTable.expected_start_time, FlowRunTable.id)))


def times_of(app: Any, deployment_id: Any) -> list[datetime]:
    """Expected start times of the deployment's auto-scheduled runs, in order."""
    return [run.expected_start_time for run in runs_of(app, deployment_id)]


def history_of(app: Any, flow_run_id: Any) -> list[tuple[str, str]]:
    """(type, name) of each state-history row of a run, oldest first."""
    query = (
        select(FlowRunStateTable.type, FlowRunStateTable.name)
        .where(FlowRunStateTable.flow_run_id == flow_run_id)
        .order_by(FlowRunStateTable.timestamp, FlowRunStateTable.created)
    )
    with app.state.database.read_session() as session:
        return [(row.type, row.name) for row in session.execute(query)]


def store_unchecked_schedule(app: Any, deployment_id: Any, schedule: dict[str, Any]) -> None:
    """Write ``schedule`` straight into the deployment's row, past every check of the API: the way a
    version of Sluice without the schedule budget may have stored a costly one."""
    from sqlalchemy import update

    from sluice.server.database.tables import DeploymentTable
    from sluice.server.models.deployment_schedules import schedule_id_for

    entry = {"id": schedule_id_for(schedule), "schedule": schedule, "active": True}
    statement = update(DeploymentTable).where(DeploymentTable.id == deployment_id)
    with app.state.database.session() as session:
        session.execute(statement.values(schedule=schedule, schedules=[entry]))
        session.commit()


def hours(start: datetime, *offsets: float) -> list[datetime]:
    """``start`` plus each offset in hours."""
    return [start + timedelta(hours=offset) for offset in offsets]


@pytest.fixture(autouse=True)
def schedule_types(sluice_plugin_manager: Any) -> Any:
    """The three first-party schedule types, registered on the test's plugin manager (import this
    fixture into a test module to use it there)."""
    import sluice_cron
    import sluice_interval
    import sluice_rrule

    for module in (sluice_cron, sluice_interval, sluice_rrule):
        sluice_plugin_manager.register(module, name=module.__name__)
    return sluice_plugin_manager


@pytest.fixture
def clock() -> Clock:
    """A controllable clock at one minute past a future midnight."""
    return Clock(future_midnight() + timedelta(minutes=1))
