"""The scheduler service (server/services/scheduler.py) and schedule changes
(server/models/scheduled_runs.py), on SQLite and PostgreSQL, with a controllable clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.server.scheduling_helpers import (
    Clock,
    clock,
    hours,
    make_scheduler,
    runs_of,
    schedule_types,
    store_unchecked_schedule,
    times_of,
)

__all__ = ["clock", "schedule_types"]  # fixtures

CRON_6H = {"type": "cron", "cron": "0 */6 * * *"}
HOURLY = {"type": "cron", "cron": "0 * * * *"}


@pytest.fixture
def scheduler(app, settings, clock):
    """A scheduler creating at most 5 runs ahead per schedule, topping up below 3."""
    return make_scheduler(app, settings, clock, scheduler_max_runs=5, scheduler_min_runs=3)


def test_cron_deployment_gets_exactly_its_next_runs(client, flow, app, scheduler, clock):
    deployment = client.create_deployment("six-hourly", flow.id, schedule=CRON_6H)
    report = scheduler.schedule_runs()
    midnight = clock.now - timedelta(minutes=1)
    assert times_of(app, deployment.id) == hours(midnight, 6, 12, 18, 24, 30)
    assert report.created == 5


def test_interval_deployment_gets_exactly_its_next_runs(client, flow, app, scheduler, clock):
    schedule = {"type": "interval", "interval": 5400, "anchor_date": "2026-01-01T00:15:00Z"}
    deployment = client.create_deployment("ninety-minutes", flow.id, schedule=schedule)
    scheduler.schedule_runs()
    midnight = clock.now - timedelta(minutes=1)
    assert times_of(app, deployment.id) == hours(midnight, 0.25, 1.75, 3.25, 4.75, 6.25)


def test_rrule_deployment_gets_exactly_its_next_runs_in_its_time_zone(client, flow, app, scheduler, clock):
    schedule = {"type": "rrule", "rrule": "FREQ=DAILY;BYHOUR=9,17;BYMINUTE=0", "timezone": "Europe/London"}
    deployment = client.create_deployment("twice-daily", flow.id, schedule=schedule)
    scheduler.schedule_runs()
    london = ZoneInfo("Europe/London")
    day = clock.now.date()
    expected = [
        datetime(day.year, day.month, day.day, hour, tzinfo=london).astimezone(UTC) + timedelta(days=offset)
        for offset, hour in ((0, 9), (0, 17), (1, 9), (1, 17), (2, 9))
    ]
    # The midnight run of the 1st of a month in London is the same whatever the DST state.
    assert times_of(app, deployment.id) == expected


def test_runs_are_scheduled_with_the_deployment_fields_and_a_key(client, flow, app, scheduler):
    deployment = client.create_deployment(
        "hourly", flow.id, schedule=HOURLY, parameters={"rows": 3}, tags=["etl"], work_queue_name="etl-queue"
    )
    scheduler.schedule_runs()
    run = runs_of(app, deployment.id)[0]
    schedule_id = deployment.schedules[0].id
    assert (run.state_type, run.state_name) == ("SCHEDULED", "Scheduled")
    assert run.parameters == {"rows": 3} and run.tags == ["etl"] and run.work_queue_name == "etl-queue"
    assert run.auto_scheduled is True
    assert run.next_scheduled_start_time == run.expected_start_time
    expected_key = f"scheduled {deployment.id} {schedule_id} {run.expected_start_time.isoformat()}"
    assert run.idempotency_key == expected_key
    states = client.read_flow_run_states(run.id)
    assert [(state.type.value, state.name) for state in states] == [("SCHEDULED", "Scheduled")]


def test_a_second_loop_creates_nothing_new(client, flow, app, scheduler):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    scheduler.schedule_runs()
    before = [run.id for run in runs_of(app, deployment.id)]
    report = scheduler.schedule_runs()
    assert report.created == 0 and report.planned == 0
    assert [run.id for run in runs_of(app, deployment.id)] == before


def test_runs_are_topped_up_when_fewer_than_min_runs_remain(client, flow, app, scheduler, clock):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    scheduler.schedule_runs()
    midnight = clock.now - timedelta(minutes=1)
    clock.advance(hours=2)  # 01:00 and 02:00 are past: 3 future runs remain, enough
    assert scheduler.schedule_runs().created == 0
    clock.advance(hours=1)  # 2 future runs remain: top up to 5 ahead
    assert scheduler.schedule_runs().created == 3
    assert times_of(app, deployment.id) == hours(midnight, 1, 2, 3, 4, 5, 6, 7, 8)


def test_runs_deleted_by_hand_are_noticed_within_the_recheck_time(client, flow, app, scheduler, clock):
    from sluice.server.services.scheduler import RECHECK_AFTER

    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    scheduler.schedule_runs()
    for run in runs_of(app, deployment.id)[:3]:
        client.delete_flow_run(run.id)
    clock.advance(minutes=1)
    assert scheduler.schedule_runs().created == 0  # known to be filled: not counted again yet
    clock.advance(seconds=RECHECK_AFTER.total_seconds())
    assert scheduler.schedule_runs().created == 3
    assert len(times_of(app, deployment.id)) == 5


def test_max_scheduled_time_bounds_runs_but_min_runs_are_always_created(client, flow, app, settings, clock):
    hourly = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    yearly = client.create_deployment("yearly", flow.id, schedule={"type": "cron", "cron": "0 0 1 1 *"})
    two_hours = timedelta(hours=2)
    scheduler = make_scheduler(
        app, settings, clock, scheduler_max_runs=100, scheduler_min_runs=2, scheduler_max_scheduled_time=two_hours
    )
    scheduler.schedule_runs()
    assert len(times_of(app, hourly.id)) == 2  # 01:00 and 02:00 are within two hours
    yearly_times = times_of(app, yearly.id)
    assert len(yearly_times) == 2 and all(time.month == 1 and time.day == 1 for time in yearly_times)


def test_deployments_without_an_active_schedule_get_no_runs(client, flow, app, scheduler):
    unscheduled = client.create_deployment("on-demand", flow.id)
    paused = client.create_deployment("paused", flow.id, schedule=HOURLY, is_schedule_active=False)
    switched_off = client.create_deployment(
        "off", flow.id, schedules=[{"schedule": HOURLY, "active": False}], is_schedule_active=True
    )
    assert scheduler.schedule_runs().created == 0
    for deployment in (unscheduled, paused, switched_off):
        assert runs_of(app, deployment.id, auto=None) == []


def test_many_deployments_are_paged_and_each_filled(client, flow, app, settings, clock):
    deployments = [client.create_deployment(f"d{index}", flow.id, schedule=HOURLY) for index in range(7)]
    scheduler = make_scheduler(app, settings, clock, scheduler_max_runs=4, scheduler_deployment_batch_size=3)
    assert scheduler.schedule_runs().created == 28
    assert all(len(times_of(app, deployment.id)) == 4 for deployment in deployments)


def test_two_schedulers_racing_create_every_run_exactly_once(client, flow, app, settings, clock, database_url):
    from sluice.server.database.engine import Database

    deployments = [client.create_deployment(f"d{index}", flow.id, schedule=HOURLY) for index in range(20)]
    databases = [Database(database_url, settings) for _ in range(2)]  # each with its own connections
    options = {"scheduler_max_runs": 30, "scheduler_deployment_batch_size": 4}
    schedulers = [make_scheduler(app, settings, clock, database=database, **options) for database in databases]
    start = threading.Barrier(2)
    reports: list = []
    errors: list[BaseException] = []

    def run(scheduler) -> None:
        try:
            start.wait(timeout=30)
            reports.append(scheduler.schedule_runs())
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(scheduler,)) for scheduler in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for database in databases:
        database.dispose()
    assert errors == []
    assert sum(report.created for report in reports) == 20 * 30
    for deployment in deployments:
        times = times_of(app, deployment.id)
        assert len(times) == 30 and len(set(times)) == 30


def test_pausing_removes_future_auto_runs_and_creates_none(client, flow, app, scheduler, clock):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    manual = client.create_flow_run_from_deployment(
        deployment.id, state={"type": "SCHEDULED", "scheduled_time": (clock.now + timedelta(hours=2)).isoformat()}
    )
    scheduler.schedule_runs()
    assert len(times_of(app, deployment.id)) == 5
    client.set_deployment_schedule_active(deployment.id, False)
    assert runs_of(app, deployment.id) == []
    assert scheduler.schedule_runs().created == 0
    assert runs_of(app, deployment.id) == []
    assert [run.id for run in runs_of(app, deployment.id, auto=False)] == [manual.id]
    client.set_deployment_schedule_active(deployment.id, True)
    assert scheduler.schedule_runs().created == 5


def test_pausing_with_patch_also_removes_them(client, flow, app, scheduler):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    scheduler.schedule_runs()
    client.update_deployment(deployment.id, is_schedule_active=False)
    assert runs_of(app, deployment.id) == []


def test_changing_the_cron_replaces_future_runs_and_leaves_manual_ones(client, flow, app, scheduler, clock):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    manual = client.create_flow_run_from_deployment(
        deployment.id, state={"type": "SCHEDULED", "scheduled_time": (clock.now + timedelta(hours=1)).isoformat()}
    )
    scheduler.schedule_runs()
    midnight = clock.now - timedelta(minutes=1)
    client.update_deployment(deployment.id, schedule={"type": "cron", "cron": "30 * * * *"})
    assert runs_of(app, deployment.id) == []
    assert scheduler.schedule_runs().created == 5
    assert times_of(app, deployment.id) == hours(midnight, 0.5, 1.5, 2.5, 3.5, 4.5)
    remaining = runs_of(app, deployment.id, auto=False)
    assert [run.id for run in remaining] == [manual.id] and remaining[0].state_type == "SCHEDULED"


def test_an_upsert_with_a_new_schedule_replaces_future_runs(client, flow, app, scheduler, clock):
    deployment = client.create_deployment("d", flow.id, schedule=HOURLY)
    scheduler.schedule_runs()
    client.create_deployment("d", flow.id, schedule=CRON_6H)
    assert runs_of(app, deployment.id) == []
    scheduler.schedule_runs()
    assert times_of(app, deployment.id) == hours(clock.now - timedelta(minutes=1), 6, 12, 18, 24, 30)


def test_an_upsert_with_the_same_schedule_keeps_the_runs(client, flow, app, scheduler):
    deployment = client.create_deployment("d", flow.id, schedule=HOURLY, description="one")
    scheduler.schedule_runs()
    before = [run.id for run in runs_of(app, deployment.id)]
    client.create_deployment("d", flow.id, schedule=HOURLY, description="two")
    assert [run.id for run in runs_of(app, deployment.id)] == before


def test_changing_parameters_or_work_queue_replaces_future_runs(client, flow, app, scheduler):
    deployment = client.create_deployment("d", flow.id, schedule=HOURLY, parameters={"rows": 1})
    scheduler.schedule_runs()
    client.update_deployment(deployment.id, parameters={"rows": 2})
    assert runs_of(app, deployment.id) == []
    scheduler.schedule_runs()
    assert {run.parameters["rows"] for run in runs_of(app, deployment.id)} == {2}
    client.update_deployment(deployment.id, work_queue_name="other")
    scheduler.schedule_runs()
    assert {run.work_queue_name for run in runs_of(app, deployment.id)} == {"other"}


def test_started_and_past_runs_are_not_deleted_by_a_change(client, flow, app, scheduler, clock):
    deployment = client.create_deployment("d", flow.id, schedule=HOURLY)
    scheduler.schedule_runs()
    first = runs_of(app, deployment.id)[0]
    client.set_flow_run_state(first.id, "CANCELLED")  # no longer SCHEDULED: it is history now
    client.update_deployment(deployment.id, schedule=CRON_6H)
    assert [run.id for run in runs_of(app, deployment.id)] == [first.id]


def test_deleting_a_deployment_deletes_its_future_auto_runs_only(client, flow, app, scheduler, clock):
    deployment = client.create_deployment("d", flow.id, schedule=HOURLY)
    manual = client.create_flow_run_from_deployment(deployment.id)
    scheduler.schedule_runs()
    client.delete_deployment(deployment.id)
    assert client.filter_flow_runs(flow_ids=[flow.id]) == [client.read_flow_run(manual.id)]


def test_catchup_off_skips_the_runs_missed_during_an_outage(client, flow, app, scheduler, clock):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY, catchup=False)
    scheduler.schedule_runs()
    midnight = clock.now - timedelta(minutes=1)
    clock.now = midnight + timedelta(hours=10, minutes=1)  # the scheduler was down until 10:01
    scheduler.schedule_runs()
    assert times_of(app, deployment.id) == hours(midnight, 1, 2, 3, 4, 5, 11, 12, 13, 14, 15)


def test_catchup_on_creates_the_missed_runs_marked_late(client, flow, app, scheduler, clock):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY, catchup=True)
    scheduler.schedule_runs()
    midnight = clock.now - timedelta(minutes=1)
    clock.now = midnight + timedelta(hours=10, minutes=1)
    scheduler.schedule_runs()
    runs = runs_of(app, deployment.id)
    assert [run.expected_start_time for run in runs] == hours(midnight, *range(1, 16))
    assert [run.state_name for run in runs if run.expected_start_time.hour in range(6, 11)] == ["Late"] * 5
    assert {run.state_name for run in runs if run.expected_start_time > clock.now} == {"Scheduled"}


def test_catchup_creates_at_most_max_runs_missed_runs(client, flow, app, scheduler, clock):
    deployment = client.create_deployment("hourly", flow.id, schedule=HOURLY, catchup=True)
    scheduler.schedule_runs()
    midnight = clock.now - timedelta(minutes=1)
    clock.now = midnight + timedelta(hours=20, minutes=1)
    scheduler.schedule_runs()
    late = [run.expected_start_time for run in runs_of(app, deployment.id) if run.state_name == "Late"]
    assert late == hours(midnight, 16, 17, 18, 19, 20)  # the latest max_runs=5 of the 15 missed


def test_catchup_does_not_create_the_runs_missed_while_the_schedule_was_paused(client, flow, app, settings):
    every_ten_minutes = {"type": "cron", "cron": "*/10 * * * *"}
    deployment = client.create_deployment("d", flow.id, schedule=every_ten_minutes, catchup=True)
    earlier = datetime.now(UTC) - timedelta(hours=2)
    client.backfill_deployment(deployment.id, earlier - timedelta(hours=1), earlier)  # the last runs, long ago
    client.set_deployment_schedule_active(deployment.id, False)
    client.set_deployment_schedule_active(deployment.id, True)
    now = datetime.now(UTC)
    make_scheduler(app, settings, Clock(now), scheduler_max_runs=5).schedule_runs()
    created = [time for time in times_of(app, deployment.id) if time > earlier]
    assert len(created) == 5 and min(created) >= now  # nothing between the pause and the resume


def test_max_scheduled_time_reads_plain_seconds_or_iso_8601(monkeypatch):
    from sluice.settings import Settings

    monkeypatch.setenv("SLUICE_SCHEDULER_MAX_SCHEDULED_TIME", "3600")
    assert Settings().scheduler_max_scheduled_time == timedelta(hours=1)
    monkeypatch.setenv("SLUICE_SCHEDULER_MAX_SCHEDULED_TIME", "P100D")
    assert Settings().scheduler_max_scheduled_time == timedelta(days=100)


def test_schedule_ids_are_stable_when_the_list_is_sent_again_in_another_order(client, flow):
    other = {"type": "interval", "interval": 3600, "anchor_date": "2026-01-01T00:00:00Z"}
    deployment = client.create_deployment("d", flow.id, schedules=[{"schedule": HOURLY}, {"schedule": other}])
    ids = {entry.schedule["type"]: entry.id for entry in deployment.schedules}
    again = client.create_deployment("d", flow.id, schedules=[{"schedule": other}, {"schedule": HOURLY}])
    assert {entry.schedule["type"]: entry.id for entry in again.schedules} == ids
    assert again.schedule == again.schedules[0].schedule


def test_the_schedule_shorthand_is_the_single_entry_of_schedules(client, flow):
    deployment = client.create_deployment("d", flow.id, schedule=HOURLY)
    assert len(deployment.schedules) == 1 and deployment.schedules[0].active
    assert deployment.schedules[0].schedule == deployment.schedule
    cleared = client.update_deployment(deployment.id, schedule=None)
    assert cleared.schedules == [] and cleared.schedule is None


def test_an_invalid_schedule_is_refused_with_the_reason(client, flow):
    from sluice.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="61"):
        client.create_deployment("d", flow.id, schedule={"type": "cron", "cron": "61 * * * *"})


def test_two_schedules_both_fire_and_editing_one_leaves_the_other_alone(client, flow, app, scheduler, clock):
    six_hourly = {"type": "cron", "cron": "0 */6 * * *"}
    half_past = {"type": "cron", "cron": "30 * * * *"}
    deployment = client.create_deployment("d", flow.id, schedules=[{"schedule": six_hourly}, {"schedule": half_past}])
    scheduler.schedule_runs()
    midnight = clock.now - timedelta(minutes=1)
    assert times_of(app, deployment.id) == sorted(hours(midnight, 6, 12, 18, 24, 30, 0.5, 1.5, 2.5, 3.5, 4.5))
    six_hourly_id = deployment.schedules[0].id
    kept = {run.id for run in runs_of(app, deployment.id) if str(six_hourly_id) in run.idempotency_key}
    assert len(kept) == 5
    edited = client.update_deployment(
        deployment.id,
        schedules=[{"schedule": six_hourly}, {"schedule": {"type": "cron", "cron": "45 * * * *"}}],
    )
    assert edited.schedules[0].id == six_hourly_id
    assert {run.id for run in runs_of(app, deployment.id)} == kept
    scheduler.schedule_runs()
    assert {run.id for run in runs_of(app, deployment.id)} >= kept
    assert times_of(app, deployment.id) == sorted(hours(midnight, 6, 12, 18, 24, 30, 0.75, 1.75, 2.75, 3.75, 4.75))


def test_turning_one_schedule_off_removes_only_its_runs(client, flow, app, scheduler):
    deployment = client.create_deployment("d", flow.id, schedules=[{"schedule": CRON_6H}, {"schedule": HOURLY}])
    scheduler.schedule_runs()
    entries = [entry.model_dump(mode="json") for entry in deployment.schedules]
    entries[1]["active"] = False
    client.update_deployment(deployment.id, schedules=entries)
    assert {run.expected_start_time.hour % 6 for run in runs_of(app, deployment.id)} == {0}
    assert scheduler.schedule_runs().created == 0


@pytest.mark.parametrize(
    "rrule",
    [
        "FREQ=SECONDLY;COUNT=1000000000",  # counted from 2020 second by second: past the scanned limit
        "FREQ=SECONDLY;BYSETPOS=2",  # searched up to the year 9999 inside dateutil: past the time limit
    ],
)
def test_a_stored_schedule_too_costly_to_compute_is_skipped_and_the_others_get_their_runs(
    client, flow, app, settings, clock, caplog, rrule
):
    normal = client.create_deployment("hourly", flow.id, schedule=HOURLY)
    hostile = client.create_deployment("hostile", flow.id, schedule=HOURLY)
    store_unchecked_schedule(app, hostile.id, {"type": "rrule", "rrule": rrule})
    scheduler = make_scheduler(
        app, settings, clock, scheduler_max_runs=5, schedule_max_scanned=10_000, schedule_max_seconds=0.5
    )
    loop = threading.Thread(target=scheduler.schedule_runs, daemon=True)
    loop.start()
    loop.join(timeout=120)  # a deadline, not a measure: without a budget the loop sat in the rule for hours
    assert not loop.is_alive(), "the scheduler loop is stuck in the costly schedule"
    midnight = clock.now - timedelta(minutes=1)
    assert times_of(app, normal.id) == hours(midnight, 1, 2, 3, 4, 5)
    assert times_of(app, hostile.id) == []
    (warning,) = [record for record in caplog.records if "skipped" in record.getMessage()]
    assert warning.levelname == "WARNING"
    assert f"deployment {hostile.id} skipped: its dates cannot be computed" in warning.getMessage()
    assert "is too costly to compute" in warning.getMessage()

    caplog.clear()
    clock.advance(minutes=5)
    scheduler.schedule_runs()  # remembered: not computed again
    assert not [record for record in caplog.records if "skipped" in record.getMessage()]
    clock.advance(minutes=6)
    scheduler.schedule_runs()  # tried again once RECHECK_AFTER (10 minutes) has passed
    assert [record for record in caplog.records if "skipped" in record.getMessage()]


def test_a_catchup_schedule_firing_every_microsecond_gets_its_runs(client, flow, app, settings, clock):
    every_microsecond = {"type": "interval", "interval": 0.000001, "anchor_date": "2026-01-01T00:00:00Z"}
    deployment = client.create_deployment("tiny", flow.id, schedule=every_microsecond, catchup=True)
    scheduler = make_scheduler(app, settings, clock, scheduler_max_runs=5, schedule_max_scanned=10_000)
    scheduler.schedule_runs()
    clock.advance(hours=1)  # an hour of missed runs: 3.6e9 times, of which the latest 5 are caught up
    scheduler.schedule_runs()
    assert len(times_of(app, deployment.id)) == 15
