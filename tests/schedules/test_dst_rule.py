"""Properties of the DST rule shared by every wall-clock schedule (``sluice.schedules.wall_clock_dates``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.schedules import resolve_local_time
from sluice_cron.schedule import CronSchedule
from sluice_interval.schedule import IntervalSchedule
from tests.schedules.times import assert_sorted_distinct

ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago", "Asia/Tehran", "UTC"]

daily_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
start_days = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31))


def _expected_daily(clock: time, zone_name: str, first_day: date, count: int) -> list[datetime]:
    """One run per local day at ``clock``, each resolved by the DST rule."""
    zone = CronSchedule(cron="0 0 * * *", timezone=zone_name).zone
    return [resolve_local_time(datetime.combine(first_day + timedelta(days=k), clock), zone) for k in range(count)]


@settings(max_examples=60, deadline=None)
@given(clock=daily_times, zone_name=st.sampled_from(ZONES), first_day=start_days)
def test_daily_cron_fires_once_a_day_at_the_resolved_wall_time(clock: time, zone_name: str, first_day: date) -> None:
    schedule = CronSchedule(cron=f"{clock.minute} {clock.hour} * * *", timezone=zone_name)
    expected = _expected_daily(clock, zone_name, first_day + timedelta(days=1), 40)
    # Start at the first expected run so the comparison does not depend on what precedes it.
    got = schedule.get_dates(40, start=expected[0])
    assert [moment.astimezone(UTC) for moment in got] == [moment.astimezone(UTC) for moment in expected]
    assert_sorted_distinct(got)


@settings(max_examples=60, deadline=None)
@given(clock=daily_times, zone_name=st.sampled_from(ZONES), first_day=start_days)
def test_daily_interval_agrees_with_daily_cron(clock: time, zone_name: str, first_day: date) -> None:
    cron = CronSchedule(cron=f"{clock.minute} {clock.hour} * * *", timezone=zone_name)
    anchor = datetime.combine(date(2025, 12, 1), clock)
    interval = IntervalSchedule(interval=86400, anchor_date=anchor, timezone=zone_name)
    start = datetime.combine(first_day, time(0)).replace(tzinfo=UTC)
    got_interval = interval.get_dates(30, start=start)
    got_cron = cron.get_dates(30, start=start)
    assert [moment.astimezone(UTC) for moment in got_interval] == [moment.astimezone(UTC) for moment in got_cron]


@settings(max_examples=40, deadline=None)
@given(
    minutes=st.sampled_from([1, 7, 15, 60, 90, 600]),
    zone_name=st.sampled_from(ZONES),
    first_day=start_days,
)
def test_short_intervals_are_evenly_spaced_in_utc(minutes: int, zone_name: str, first_day: date) -> None:
    schedule = IntervalSchedule(interval=minutes * 60, anchor_date=datetime(2026, 1, 1, tzinfo=UTC), timezone=zone_name)
    got = schedule.get_dates(200, start=datetime.combine(first_day, time(0)).replace(tzinfo=UTC))
    instants = [moment.astimezone(UTC) for moment in got]
    assert all(later - earlier == timedelta(minutes=minutes) for earlier, later in pairwise(instants))
