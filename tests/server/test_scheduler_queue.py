"""The scheduler and the SQL queue backend: new runs wake waiting agents; a claim never starts a run
later than its deployment's max_lateness (server/models/scheduled_runs.py, sluice_queue_sql)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

import sluice_queue_sql
from tests.server.scheduling_helpers import Clock, clock, make_late_runs, make_scheduler, schedule_types

__all__ = ["clock", "schedule_types"]  # fixtures


@pytest.fixture(autouse=True)
def _sql_backend(sluice_plugin_manager):
    """The queue backend plugin, registered before the app is built."""
    sluice_plugin_manager.register(sluice_queue_sql, name="sql", distribution="sluice-queue-sql")


def test_runs_created_by_the_scheduler_wake_the_queue_waiters(client, flow, app, settings, clock, monkeypatch):
    client.create_deployment("hourly", flow.id, schedule={"type": "cron", "cron": "0 * * * *"})
    notifier = app.state.queue_backend.work_signal
    # Only the wake-ups of the scheduler's own commits (made in this thread) are counted: on
    # PostgreSQL the LISTEN thread also bumps the version when a NOTIFY from another connection (a
    # test sharing the database) arrives, at a moment no test controls.
    this_thread, woken_here, notify = threading.get_ident(), [], notifier.notify

    def counting_notify() -> None:
        if threading.get_ident() == this_thread:
            woken_here.append(notifier.version)
        notify()

    monkeypatch.setattr(notifier, "notify", counting_notify)
    assert make_scheduler(app, settings, clock, scheduler_max_runs=3).schedule_runs().created == 3
    assert woken_here, "the commit of the new runs did not wake the queue waiters"
    woken_here.clear()
    make_scheduler(app, settings, clock, scheduler_max_runs=3).schedule_runs()  # nothing new
    assert woken_here == []


def test_a_claim_does_not_start_a_run_later_than_max_lateness(client, flow, app, settings):
    strict = client.create_deployment("strict", flow.id, work_queue_name="q", max_lateness=60)
    relaxed = client.create_deployment("relaxed", flow.id, work_queue_name="q")
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    too_late = client.create_flow_run_from_deployment(strict.id, state={"type": "SCHEDULED", "scheduled_time": past})
    late_but_fine = client.create_flow_run_from_deployment(
        relaxed.id, state={"type": "SCHEDULED", "scheduled_time": past}
    )
    claimed = client.claim_flow_runs(["q"], uuid.uuid4(), limit=10)
    assert [run.id for run in claimed] == [late_but_fine.id]
    assert client.read_flow_run(too_late.id).state.type.value == "SCHEDULED"
    make_late_runs(app, settings, Clock(datetime.now(UTC))).handle_late_runs()
    assert client.read_flow_run(too_late.id).state.type.value == "CANCELLED"


def test_due_runs_past_max_lateness_leave_the_wait_to_a_notification(client, flow, app, monkeypatch):
    import asyncio

    from sluice.queues import ClaimRequest

    strict = client.create_deployment("strict", flow.id, work_queue_name="q", max_lateness=60)
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    client.create_flow_run_from_deployment(strict.id, state={"type": "SCHEDULED", "scheduled_time": past})
    backend = app.state.queue_backend
    waits = []

    async def recording_wait(timeout, since=None):
        waits.append(timeout)

    monkeypatch.setattr(backend.work_signal, "wait", recording_wait)
    request = ClaimRequest(queues=("q",), limit=10, agent_id=uuid.uuid4())
    asyncio.run(backend.wait_for_work(request, 60, since=backend.work_version()))
    assert waits == [60]  # the claim never takes that run: waking for it would spin
