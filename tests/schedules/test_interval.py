"""The 'interval' schedule type (``sluice_interval``): exact short intervals, wall-clock long ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from sluice.errors import ConfigurationError
from sluice.schedules import schedule_from_dict
from sluice_interval.schedule import IntervalSchedule
from tests.schedules.times import LONDON, NEW_YORK, assert_fire_times, assert_sorted_distinct, at

HOUR = 3600
DAY = 86400


def interval(seconds: float, anchor: str, timezone: str) -> IntervalSchedule:
    return IntervalSchedule(interval=seconds, anchor_date=at(anchor), timezone=timezone)


# --- short intervals: exact elapsed time -----------------------------------------------------------


def test_hourly_across_new_york_fall_back_fires_both_0100s_25_runs_in_the_day() -> None:
    schedule = interval(HOUR, "2026-01-01T00:00-05:00", NEW_YORK)
    dates = schedule.get_dates(100, start=at("2026-11-01T00:00-04:00"), end=at("2026-11-01T23:59-05:00"))
    assert len(dates) == 25
    assert_fire_times(
        dates[:4],
        ["2026-11-01T00:00-04:00", "2026-11-01T01:00-04:00", "2026-11-01T01:00-05:00", "2026-11-01T02:00-05:00"],
        NEW_YORK,
    )
    assert dates[1].fold == 0 and dates[2].fold == 1
    instants = [moment.astimezone(UTC) for moment in dates]
    assert instants == [datetime(2026, 11, 1, 4, tzinfo=UTC) + timedelta(hours=k) for k in range(25)]


def test_hourly_across_london_fall_back_fires_both_0100s() -> None:
    schedule = interval(HOUR, "2026-01-01T00:00+00:00", LONDON)
    dates = schedule.get_dates(100, start=at("2026-10-25T00:00+01:00"), end=at("2026-10-25T23:59+00:00"))
    assert len(dates) == 25
    assert_fire_times(
        dates[:4],
        ["2026-10-25T00:00+01:00", "2026-10-25T01:00+01:00", "2026-10-25T01:00+00:00", "2026-10-25T02:00+00:00"],
        LONDON,
    )


def test_hourly_across_new_york_spring_forward_has_23_runs() -> None:
    schedule = interval(HOUR, "2026-01-01T00:00-05:00", NEW_YORK)
    dates = schedule.get_dates(100, start=at("2026-03-08T00:00-05:00"), end=at("2026-03-08T23:59-04:00"))
    assert len(dates) == 23
    assert_fire_times(
        dates[:3], ["2026-03-08T00:00-05:00", "2026-03-08T01:00-05:00", "2026-03-08T03:00-04:00"], NEW_YORK
    )


def test_90_minutes_is_exact_elapsed_time_across_the_gap() -> None:
    schedule = interval(5400, "2026-03-08T00:00-05:00", NEW_YORK)
    dates = schedule.get_dates(4, start=at("2026-03-08T00:00-05:00"))
    assert_fire_times(
        dates,
        ["2026-03-08T00:00-05:00", "2026-03-08T01:30-05:00", "2026-03-08T04:00-04:00", "2026-03-08T05:30-04:00"],
        NEW_YORK,
    )


def test_dates_are_anchor_plus_whole_intervals_even_before_the_anchor() -> None:
    schedule = interval(15 * 60, "2026-06-01T12:05+00:00", "UTC")
    dates = schedule.get_dates(3, start=at("2026-06-01T11:00+00:00"))
    assert_fire_times(dates, ["2026-06-01T11:05+00:00", "2026-06-01T11:20+00:00", "2026-06-01T11:35+00:00"], "UTC")


# --- long intervals: wall-clock time ----------------------------------------------------------------


def test_daily_0230_across_new_york_spring_forward_fires_0330_then_0230() -> None:
    schedule = interval(DAY, "2026-01-01T02:30-05:00", NEW_YORK)
    dates = schedule.get_dates(3, start=at("2026-03-07T00:00-05:00"))
    assert_fire_times(dates, ["2026-03-07T02:30-05:00", "2026-03-08T03:30-04:00", "2026-03-09T02:30-04:00"], NEW_YORK)


def test_daily_0130_across_london_spring_forward_fires_0230_then_0130() -> None:
    schedule = interval(DAY, "2026-01-01T01:30+00:00", LONDON)
    dates = schedule.get_dates(3, start=at("2026-03-28T00:00+00:00"))
    assert_fire_times(dates, ["2026-03-28T01:30+00:00", "2026-03-29T02:30+01:00", "2026-03-30T01:30+01:00"], LONDON)


def test_daily_0900_stays_0900_local_across_both_london_transitions() -> None:
    schedule = interval(DAY, "2026-01-01T09:00+00:00", LONDON)
    assert_fire_times(
        schedule.get_dates(3, start=at("2026-03-28T00:00+00:00")),
        ["2026-03-28T09:00+00:00", "2026-03-29T09:00+01:00", "2026-03-30T09:00+01:00"],
        LONDON,
    )
    assert_fire_times(
        schedule.get_dates(3, start=at("2026-10-24T00:00+01:00")),
        ["2026-10-24T09:00+01:00", "2026-10-25T09:00+00:00", "2026-10-26T09:00+00:00"],
        LONDON,
    )


def test_daily_0130_on_new_york_fall_back_fires_once_at_the_first_occurrence() -> None:
    schedule = interval(DAY, "2026-01-01T01:30-05:00", NEW_YORK)
    dates = schedule.get_dates(3, start=at("2026-10-31T00:00-04:00"))
    assert_fire_times(dates, ["2026-10-31T01:30-04:00", "2026-11-01T01:30-04:00", "2026-11-02T01:30-05:00"], NEW_YORK)


def test_weekly_keeps_weekday_and_wall_time() -> None:
    schedule = interval(7 * DAY, "2026-03-02T09:00-05:00", NEW_YORK)
    dates = schedule.get_dates(3, start=at("2026-03-01T00:00-05:00"))
    assert_fire_times(dates, ["2026-03-02T09:00-05:00", "2026-03-09T09:00-04:00", "2026-03-16T09:00-04:00"], NEW_YORK)


def test_daily_interval_through_a_leap_day() -> None:
    schedule = interval(DAY, "2028-01-01T06:00+00:00", "UTC")
    dates = schedule.get_dates(3, start=at("2028-02-28T00:00+00:00"))
    assert_fire_times(dates, ["2028-02-28T06:00+00:00", "2028-02-29T06:00+00:00", "2028-03-01T06:00+00:00"], "UTC")


def test_two_day_interval_across_a_month_end() -> None:
    schedule = interval(2 * DAY, "2026-01-29T00:00+00:00", "UTC")
    dates = schedule.get_dates(3, start=at("2026-01-30T00:00+00:00"))
    assert_fire_times(dates, ["2026-01-31T00:00+00:00", "2026-02-02T00:00+00:00", "2026-02-04T00:00+00:00"], "UTC")


# --- bounds ----------------------------------------------------------------------------------------


def test_start_is_inclusive_end_is_inclusive_and_n_limits() -> None:
    schedule = interval(HOUR, "2026-01-01T00:00+00:00", "UTC")
    assert_fire_times(
        schedule.get_dates(2, start=at("2026-06-01T10:00+00:00")),
        ["2026-06-01T10:00+00:00", "2026-06-01T11:00+00:00"],
        "UTC",
    )
    assert_fire_times(
        schedule.get_dates(10, start=at("2026-06-01T10:00+00:00"), end=at("2026-06-01T12:00+00:00")),
        ["2026-06-01T10:00+00:00", "2026-06-01T11:00+00:00", "2026-06-01T12:00+00:00"],
        "UTC",
    )


def test_end_bounds_a_wall_clock_interval_too() -> None:
    schedule = interval(DAY, "2026-01-01T09:00+00:00", "UTC")
    dates = schedule.get_dates(100, start=at("2026-06-01T00:00+00:00"), end=at("2026-06-03T08:59+00:00"))
    assert_fire_times(dates, ["2026-06-01T09:00+00:00", "2026-06-02T09:00+00:00"], "UTC")


def test_times_stop_at_the_end_of_the_representable_range() -> None:
    hourly = IntervalSchedule(interval=3600, anchor_date=at("2026-01-01T00:00+00:00"), timezone="Pacific/Kiritimati")
    dates = hourly.get_dates(48, start=at("9999-12-31T00:00+00:00"))
    assert dates[-1].isoformat() == "9999-12-31T23:00:00+14:00"  # 10:00 UTC would be the year 10000 there
    daily = IntervalSchedule(interval=86400, anchor_date=at("9999-12-30T12:00+00:00"))
    assert [moment.day for moment in daily.get_dates(5, start=at("9999-12-29T00:00+00:00"))] == [29, 30, 31]


def test_an_interval_of_a_microsecond_is_computed_without_scanning_from_the_anchor() -> None:
    schedule = IntervalSchedule(interval=timedelta(microseconds=1), anchor_date=at("0001-01-01T00:00+00:00"))
    dates = schedule.get_dates(3, start=at("2026-03-01T00:00+00:00"))
    assert [moment.microsecond for moment in dates] == [0, 1, 2]


# --- fields, JSON and errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "timezone"),
    [("9999-12-31T23:00:00-05:00", None), ("0001-01-01T00:00:00", "Asia/Tokyo"), ("9999-12-31T23:00:00", NEW_YORK)],
)
def test_an_anchor_outside_the_representable_range_is_refused_quoting_it(anchor: str, timezone: str | None) -> None:
    with pytest.raises(ConfigurationError, match=r"anchor_date .* falls outside the years 1-9999 once read in UTC"):
        schedule_from_dict({"type": "interval", "interval": 3600, "anchor_date": anchor, "timezone": timezone})


def test_an_interval_too_long_for_a_timedelta_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="durations may not exceed 999,999,999 days"):
        schedule_from_dict({"type": "interval", "interval": 1e300})


def test_anchor_defaults_to_construction_time_and_is_kept_in_the_json_form() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    schedule = IntervalSchedule(interval=60)
    after = datetime.now(UTC)
    assert before <= schedule.anchor_date <= after
    dumped = schedule.model_dump(mode="json")
    assert dumped["anchor_date"] == schedule.anchor_date.isoformat().replace("+00:00", "Z")
    reloaded = schedule_from_dict(dumped)
    start = at("2026-06-01T00:00:30+00:00")
    assert reloaded.get_dates(5, start=start) == schedule.get_dates(5, start=start)


def test_json_form_serialises_the_interval_as_seconds_and_round_trips() -> None:
    schedule = schedule_from_dict(
        {"type": "interval", "interval": 5400, "anchor_date": "2026-01-01T09:00:00-05:00", "timezone": NEW_YORK}
    )
    dumped = schedule.model_dump(mode="json")
    assert dumped == {
        "type": "interval",
        "interval": 5400,
        "anchor_date": "2026-01-01T09:00:00-05:00",
        "timezone": NEW_YORK,
    }
    assert schedule_from_dict(dumped) == schedule
    assert (
        IntervalSchedule(interval=0.5, anchor_date=at("2026-01-01T00:00+00:00")).model_dump(mode="json")["interval"]
        == 0.5
    )


def test_timedelta_interval_is_accepted() -> None:
    schedule = IntervalSchedule(interval=timedelta(minutes=15), anchor_date=at("2026-01-01T00:00+00:00"))
    assert schedule.model_dump(mode="json")["interval"] == 900


def test_naive_anchor_is_read_in_the_schedule_timezone() -> None:
    schedule = IntervalSchedule(interval=DAY, anchor_date=datetime(2026, 1, 1, 9, 0), timezone=LONDON)
    assert schedule.anchor_date.astimezone(UTC) == datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    dates = schedule.get_dates(1, start=at("2026-07-01T00:00+01:00"))
    assert_fire_times(dates, ["2026-07-01T09:00+01:00"], LONDON)


def test_timezone_defaults_to_the_zone_of_a_zoned_anchor_else_utc() -> None:
    zoned = IntervalSchedule(interval=DAY, anchor_date=datetime(2026, 1, 1, 9, tzinfo=ZoneInfo(NEW_YORK)))
    assert zoned.timezone == NEW_YORK
    offset_only = IntervalSchedule(interval=DAY, anchor_date=at("2026-01-01T09:00-05:00"))
    assert offset_only.timezone == "UTC"


@pytest.mark.parametrize(
    ("value", "message"),
    [(0, "interval must be more than 0 seconds, got 0"), (-5, "interval must be more than 0 seconds, got -5")],
)
def test_non_positive_interval_is_rejected(value: int, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        IntervalSchedule(interval=value)


def test_unknown_timezone_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown timezone 'Europe/Atlantis'"):
        schedule_from_dict({"type": "interval", "interval": 60, "timezone": "Europe/Atlantis"})


def test_unparseable_interval_is_rejected() -> None:
    with pytest.raises(ValueError, match="interval"):
        schedule_from_dict({"type": "interval", "interval": "often"})


@pytest.mark.parametrize(
    ("seconds", "anchor", "timezone", "text"),
    [
        (900, "2026-01-01T00:00+00:00", "UTC", "every 15 minutes"),
        (3600, "2026-01-01T00:00+00:00", NEW_YORK, "every hour"),
        (5400, "2026-01-01T00:00+00:00", "UTC", "every 1 hour 30 minutes"),
        (DAY, "2026-01-01T09:00+00:00", LONDON, "every day at 09:00 (Europe/London)"),
        (2 * DAY, "2026-01-01T09:00-05:00", NEW_YORK, "every 2 days at 09:00 (America/New_York)"),
        (7 * DAY, "2026-01-05T09:00+00:00", "UTC", "every week on Mon at 09:00 (UTC)"),
    ],
)
def test_describe(seconds: int, anchor: str, timezone: str, text: str) -> None:
    assert interval(seconds, anchor, timezone).describe() == text


def test_many_dates_are_sorted_and_distinct() -> None:
    dates = interval(DAY, "2026-01-01T02:30-05:00", NEW_YORK).get_dates(800, start=at("2026-01-01T00:00-05:00"))
    assert len(dates) == 800
    assert_sorted_distinct(dates)
