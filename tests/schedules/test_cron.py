"""The 'cron' schedule type (``sluice_cron``): parsing, local wall-clock evaluation and the DST rule."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from sluice.schedules import schedule_from_dict
from sluice_cron.schedule import CronSchedule
from tests.schedules.times import LONDON, NEW_YORK, assert_fire_times, assert_sorted_distinct, at


def cron(expression: str, timezone: str = "UTC", day_or: bool = True) -> CronSchedule:
    return CronSchedule(cron=expression, timezone=timezone, day_or=day_or)


# --- DST ---------------------------------------------------------------------------------------


def test_daily_0900_stays_0900_local_across_both_new_york_transitions() -> None:
    schedule = cron("0 9 * * *", NEW_YORK)
    assert_fire_times(
        schedule.get_dates(3, start=at("2026-03-07T00:00-05:00")),
        ["2026-03-07T09:00-05:00", "2026-03-08T09:00-04:00", "2026-03-09T09:00-04:00"],
        NEW_YORK,
    )
    assert_fire_times(
        schedule.get_dates(3, start=at("2026-10-31T00:00-04:00")),
        ["2026-10-31T09:00-04:00", "2026-11-01T09:00-05:00", "2026-11-02T09:00-05:00"],
        NEW_YORK,
    )


def test_daily_0230_on_new_york_spring_forward_fires_0330_that_day_and_0230_the_next() -> None:
    dates = cron("30 2 * * *", NEW_YORK).get_dates(3, start=at("2026-03-07T00:00-05:00"))
    assert_fire_times(dates, ["2026-03-07T02:30-05:00", "2026-03-08T03:30-04:00", "2026-03-09T02:30-04:00"], NEW_YORK)
    assert [moment.astimezone(UTC).hour for moment in dates] == [7, 7, 6]


def test_daily_0130_on_london_spring_forward_fires_0230_that_day_and_0130_the_next() -> None:
    dates = cron("30 1 * * *", LONDON).get_dates(3, start=at("2026-03-28T00:00+00:00"))
    assert_fire_times(dates, ["2026-03-28T01:30+00:00", "2026-03-29T02:30+01:00", "2026-03-30T01:30+01:00"], LONDON)


def test_0130_on_new_york_fall_back_fires_once_at_the_first_0130_edt() -> None:
    dates = cron("30 1 * * *", NEW_YORK).get_dates(3, start=at("2026-10-31T12:00-04:00"))
    assert_fire_times(dates, ["2026-11-01T01:30-04:00", "2026-11-02T01:30-05:00", "2026-11-03T01:30-05:00"], NEW_YORK)
    assert dates[0].astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_0130_on_london_fall_back_fires_once_at_the_first_0130_bst() -> None:
    dates = cron("30 1 * * *", LONDON).get_dates(2, start=at("2026-10-24T12:00+01:00"))
    assert_fire_times(dates, ["2026-10-25T01:30+01:00", "2026-10-26T01:30+00:00"], LONDON)


def test_start_between_the_two_0130s_skips_the_second_one() -> None:
    dates = cron("30 1 * * *", NEW_YORK).get_dates(1, start=at("2026-11-01T01:00-05:00"))
    assert_fire_times(dates, ["2026-11-02T01:30-05:00"], NEW_YORK)


def test_start_after_the_gap_still_gets_the_moved_0230() -> None:
    dates = cron("30 2 * * *", NEW_YORK).get_dates(1, start=at("2026-03-08T03:10-04:00"))
    assert_fire_times(dates, ["2026-03-08T03:30-04:00"], NEW_YORK)


def test_hourly_cron_fires_each_wall_clock_hour_once_on_fall_back_day() -> None:
    dates = cron("0 * * * *", NEW_YORK).get_dates(
        100, start=at("2026-11-01T00:00-04:00"), end=at("2026-11-01T23:59-05:00")
    )
    assert len(dates) == 24
    assert_fire_times(
        dates[:4],
        ["2026-11-01T00:00-04:00", "2026-11-01T01:00-04:00", "2026-11-01T02:00-05:00", "2026-11-01T03:00-05:00"],
        NEW_YORK,
    )
    assert_sorted_distinct(dates)


def test_every_15_minutes_across_the_gap_has_no_duplicates() -> None:
    dates = cron("*/15 * * * *", NEW_YORK).get_dates(6, start=at("2026-03-08T01:30-05:00"))
    assert_fire_times(
        dates,
        [
            "2026-03-08T01:30-05:00",
            "2026-03-08T01:45-05:00",
            "2026-03-08T03:00-04:00",
            "2026-03-08T03:15-04:00",
            "2026-03-08T03:30-04:00",
            "2026-03-08T03:45-04:00",
        ],
        NEW_YORK,
    )


def test_hourly_cron_on_spring_forward_day_has_23_runs() -> None:
    dates = cron("0 * * * *", NEW_YORK).get_dates(
        100, start=at("2026-03-08T00:00-05:00"), end=at("2026-03-08T23:59-04:00")
    )
    assert len(dates) == 23
    assert_sorted_distinct(dates)


# --- calendar ------------------------------------------------------------------------------------


def test_day_31_skips_shorter_months() -> None:
    dates = cron("0 0 31 * *").get_dates(5, start=at("2026-01-01T00:00+00:00"))
    assert_fire_times(
        dates,
        [
            "2026-01-31T00:00+00:00",
            "2026-03-31T00:00+00:00",
            "2026-05-31T00:00+00:00",
            "2026-07-31T00:00+00:00",
            "2026-08-31T00:00+00:00",
        ],
        "UTC",
    )


def test_february_29_fires_in_leap_years_only() -> None:
    dates = cron("0 12 29 2 *").get_dates(2, start=at("2026-01-01T00:00+00:00"))
    assert_fire_times(dates, ["2028-02-29T12:00+00:00", "2032-02-29T12:00+00:00"], "UTC")


def test_end_of_february_range_in_a_common_and_a_leap_year() -> None:
    dates = cron("0 0 28-31 2 *").get_dates(3, start=at("2027-01-01T00:00+00:00"))
    assert_fire_times(dates, ["2027-02-28T00:00+00:00", "2028-02-28T00:00+00:00", "2028-02-29T00:00+00:00"], "UTC")


def test_day_or_true_fires_on_the_day_of_month_or_the_weekday() -> None:
    dates = cron("0 0 15 * fri").get_dates(5, start=at("2026-02-01T00:00+00:00"))
    assert_fire_times(
        dates,
        [
            "2026-02-06T00:00+00:00",
            "2026-02-13T00:00+00:00",
            "2026-02-15T00:00+00:00",
            "2026-02-20T00:00+00:00",
            "2026-02-27T00:00+00:00",
        ],
        "UTC",
    )


def test_day_or_false_fires_only_when_both_match() -> None:
    dates = cron("0 0 15 * fri", day_or=False).get_dates(2, start=at("2026-02-01T00:00+00:00"))
    assert_fire_times(dates, ["2026-05-15T00:00+00:00", "2027-01-15T00:00+00:00"], "UTC")


def test_star_weekday_leaves_the_day_of_month_alone_to_restrict() -> None:
    dates = cron("0 0 1 * *").get_dates(2, start=at("2026-02-02T00:00+00:00"))
    assert_fire_times(dates, ["2026-03-01T00:00+00:00", "2026-04-01T00:00+00:00"], "UTC")


def test_star_day_of_month_leaves_the_weekday_alone_to_restrict() -> None:
    dates = cron("0 0 * * mon").get_dates(2, start=at("2026-02-01T00:00+00:00"))
    assert_fire_times(dates, ["2026-02-02T00:00+00:00", "2026-02-09T00:00+00:00"], "UTC")


def test_starred_step_in_day_of_month_combines_with_and_as_vixie_cron_does() -> None:
    dates = cron("0 0 */2 * mon").get_dates(3, start=at("2026-02-01T00:00+00:00"))
    assert_fire_times(dates, ["2026-02-09T00:00+00:00", "2026-02-23T00:00+00:00", "2026-03-09T00:00+00:00"], "UTC")


def test_february_29_on_a_monday_with_day_or_false() -> None:
    dates = cron("0 0 29 2 mon", day_or=False).get_dates(1, start=at("2026-01-01T00:00+00:00"))
    assert_fire_times(dates, ["2044-02-29T00:00+00:00"], "UTC")


# --- syntax --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "same_as"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("0 0 * * 7", "0 0 * * 0"),
        ("0 0 * * sun", "0 0 * * 0"),
        ("0 9 * JAN,jul MON-fri", "0 9 * 1,7 1-5"),
        ("0-59/20 */8 * * *", "0,20,40 0,8,16 * * *"),
        ("10/25 * * * *", "10,35 * * * *"),
        ("0 0 * * 5-7", "0 0 * * 0,5,6"),
    ],
)
def test_equivalent_expressions_fire_at_the_same_times(expression: str, same_as: str) -> None:
    start = at("2026-01-01T00:00+00:00")
    assert cron(expression).get_dates(50, start=start) == cron(same_as).get_dates(50, start=start)


def test_lists_ranges_and_steps() -> None:
    dates = cron("5,35 8-10/2 * * *").get_dates(5, start=at("2026-06-01T00:00+00:00"))
    assert_fire_times(
        dates,
        [
            "2026-06-01T08:05+00:00",
            "2026-06-01T08:35+00:00",
            "2026-06-01T10:05+00:00",
            "2026-06-01T10:35+00:00",
            "2026-06-02T08:05+00:00",
        ],
        "UTC",
    )


# --- croniter's special forms: L, W, #, ? ---------------------------------------------------------


def _days_of_each_month(first_year: int, last_year: int, pick: Callable[[int, int], int | None]) -> list[date]:
    """The day ``pick(year, month)`` of every month in the years given (None: no day that month)."""
    days = []
    for year in range(first_year, last_year + 1):
        for month in range(1, 13):
            day = pick(year, month)
            if day is not None:
                days.append(date(year, month, day))
    return days


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """W: the weekday nearest ``day`` (the last day in a shorter month), never leaving the month."""
    last = calendar.monthrange(year, month)[1]
    day = min(day, last)
    weekday = date(year, month, day).weekday()  # Monday = 0
    if weekday == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before on the last day
        return day + 1 if day < last else day - 2
    return day


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> int | None:
    """The day of the ``n``th ``weekday`` (Monday = 0) of the month; n = -1 for the last one."""
    days = [week[weekday] for week in calendar.monthcalendar(year, month) if week[weekday]]
    if n == -1:
        return days[-1]
    return days[n - 1] if n <= len(days) else None


def _fire_days(expression: str, count: int, day_or: bool = True) -> list[date]:
    dates = cron(expression, day_or=day_or).get_dates(count, start=at("2026-01-01T00:00+00:00"))
    return [moment.date() for moment in dates]


def test_l_is_the_last_day_of_each_month_leap_years_included() -> None:
    expected = _days_of_each_month(2026, 2028, lambda year, month: calendar.monthrange(year, month)[1])
    assert _fire_days("0 0 L * *", len(expected)) == expected
    assert date(2028, 2, 29) in expected


def test_w_is_the_weekday_nearest_the_day_without_leaving_the_month() -> None:
    # croniter reads 31W in a 30-day month as the weekday nearest the 30th
    for day in (1, 15, 31):
        expected = _days_of_each_month(2026, 2028, lambda year, month, day=day: _nearest_weekday(year, month, day))
        assert _fire_days(f"0 0 {day}W * *", len(expected)) == expected, day
    # 2026-08-01 is a Saturday: 1W is Monday the 3rd, not Friday 31 July
    assert date(2026, 8, 3) in _fire_days("0 0 1W * *", 12)


def test_hash_is_the_nth_weekday_of_the_month() -> None:
    expected = _days_of_each_month(2026, 2028, lambda year, month: _nth_weekday(year, month, 4, 2))
    assert _fire_days("0 0 ? * 5#2", len(expected)) == expected
    fifth_fridays = _days_of_each_month(2026, 2028, lambda year, month: _nth_weekday(year, month, 4, 5))
    assert _fire_days("0 0 * * fri#5", len(fifth_fridays)) == fifth_fridays


def test_l_before_a_weekday_is_the_last_such_weekday_of_the_month() -> None:
    expected = _days_of_each_month(2026, 2028, lambda year, month: _nth_weekday(year, month, 4, -1))
    assert _fire_days("0 0 * * L5", len(expected)) == expected


def test_question_mark_means_any_day() -> None:
    assert _fire_days("0 0 ? * mon", 10) == _fire_days("0 0 * * mon", 10)
    assert _fire_days("0 0 1 * ?", 10) == _fire_days("0 0 1 * *", 10)


def test_l_with_a_weekday_follows_day_or() -> None:
    either = _fire_days("0 0 L * fri", 6)
    assert either[:5] == [date(2026, 1, 2), date(2026, 1, 9), date(2026, 1, 16), date(2026, 1, 23), date(2026, 1, 30)]
    assert either[5] == date(2026, 1, 31)
    assert _fire_days("0 0 L * fri", 3, day_or=False) == [date(2026, 7, 31), date(2027, 4, 30), date(2027, 12, 31)]


def test_w_and_hash_with_day_or_false_require_both_fields() -> None:
    # the weekday nearest the 15th that is a Friday; the 2nd Monday that is also the 1st-15th
    assert _fire_days("0 0 15W * fri", 2, day_or=False) == [date(2026, 5, 15), date(2026, 8, 14)]
    assert _fire_days("0 0 8-14 * 1#2", 2, day_or=False) == [date(2026, 1, 12), date(2026, 2, 9)]


def test_the_second_sunday_of_march_at_0230_fires_after_the_new_york_gap() -> None:
    # croniter's own time zone handling would move 02:30 to 03:00; Sluice's rule keeps the offset
    dates = cron("30 2 ? 3 0#2", NEW_YORK).get_dates(2, start=at("2026-01-01T00:00-05:00"))
    assert_fire_times(dates, ["2026-03-08T03:30-04:00", "2027-03-14T03:30-04:00"], NEW_YORK)


def test_special_forms_round_trip_through_json() -> None:
    data = {"type": "cron", "cron": "0 9 ? * 5#2", "timezone": LONDON, "day_or": False}
    schedule = schedule_from_dict(data)
    assert schedule.model_dump(mode="json") == data
    assert schedule_from_dict(schedule.model_dump(mode="json")) == schedule


# --- bounds --------------------------------------------------------------------------------------


def test_n_limits_the_count_and_start_is_inclusive() -> None:
    dates = cron("0 * * * *").get_dates(2, start=at("2026-06-01T10:00+00:00"))
    assert_fire_times(dates, ["2026-06-01T10:00+00:00", "2026-06-01T11:00+00:00"], "UTC")


def test_end_is_inclusive_and_stops_the_dates() -> None:
    dates = cron("0 * * * *").get_dates(100, start=at("2026-06-01T10:30+00:00"), end=at("2026-06-01T13:00+00:00"))
    assert_fire_times(dates, ["2026-06-01T11:00+00:00", "2026-06-01T12:00+00:00", "2026-06-01T13:00+00:00"], "UTC")


def test_naive_start_is_read_as_utc_and_results_are_in_the_schedule_zone() -> None:
    dates = cron("0 9 * * *", NEW_YORK).get_dates(1, start=datetime(2026, 6, 1, 14, 0))
    assert_fire_times(dates, ["2026-06-02T09:00-04:00"], NEW_YORK)


def test_end_before_start_and_zero_n_give_nothing() -> None:
    schedule = cron("* * * * *")
    assert schedule.get_dates(5, start=at("2026-06-01T10:00+00:00"), end=at("2026-06-01T09:00+00:00")) == []
    assert schedule.get_dates(0, start=at("2026-06-01T10:00+00:00")) == []


def test_default_start_is_now() -> None:
    before = datetime.now(UTC)
    dates = cron("* * * * *").get_dates(3)
    assert len(dates) == 3
    assert dates[0] >= before.replace(second=0, microsecond=0)
    assert_sorted_distinct(dates)


# --- errors and descriptions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", "invalid cron field 'minute': '61' is out of range 0-59 in '61 * * * *'"),
        ("* * *", "invalid cron expression '* * *': expected 5 fields"),
        ("0 24 * * *", "invalid cron field 'hour': '24' is out of range 0-23 in '0 24 * * *'"),
        ("0 0 0 * *", "invalid cron field 'day-of-month': '0' is out of range 1-31"),
        ("0 0 * 13 *", "invalid cron field 'month': '13' is out of range 1-12"),
        ("0 0 * * 8", "invalid cron field 'day-of-week': '8' is out of range 0-7"),
        ("0 0 * * funday", "invalid cron field 'day-of-week': 'funday' is not a number"),
        ("*/0 * * * *", "invalid cron field 'minute': '*/0' has an invalid step '0'"),
        ("30-10 * * * *", "'30-10' is a range whose start is after its end"),
        ("1,,2 * * * *", "'1,,2' has an empty list item"),
        ("@reboot", "unknown cron macro '@reboot'"),
        ("0 0 30 2 *", "cron expression '0 0 30 2 *' can never fire"),
        ("", "empty cron expression"),
        ("5-5 * * * *", "invalid cron field 'minute': '5-5' is a range with the same start and end: write '5'"),
        ("0 0 * * 1#6", "invalid cron field 'day-of-week': '1#6' has an invalid n '6' in 'weekday#n' (1 to 5)"),
        ("0 0 * * 5L", "'5L' is written 'L5' in croniter's syntax (the last Fri of the month)"),
        ("0 0 1,15W * *", "'1,15W' is not accepted ('W' can only be used with a single day value"),
        ("0 0 LW * *", "'LW': 'W' takes one day of the month, such as '15W'"),
        ("0 ? * * *", "invalid cron field 'hour': '?': '?' is allowed only in day-of-month and day-of-week"),
        ("0 0 1,? * *", "'1,?': '?' stands alone in its field"),
        ("H 0 * * *", "invalid cron field 'minute': 'H' is a hashed or random value"),
        ("0 0 * * 1#2,3", "'1#2,3' is not accepted (day-of-week field does not support mixing literal values"),
        ("0 0 * * * 0", "expected 5 fields (minute hour day-of-month month day-of-week), got 6"),
        ("0 0 15 * 5#2", "cannot combine day-of-month '15' with day-of-week '5#2' by OR"),
        ("0 0 L * 5#2", "cannot combine day-of-month 'l' with day-of-week '5#2' by OR"),
    ],
)
def test_invalid_expressions_are_rejected_quoting_the_bad_part(expression: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CronSchedule(cron=expression)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_an_overlong_expression_is_refused_quickly_without_quoting_it_whole() -> None:
    expression = ",".join(str(minute % 60) for minute in range(20_000)) + " * * * *"
    with pytest.raises(ValidationError) as caught:
        CronSchedule(cron=expression)
    message = str(caught.value)
    assert f"is {len(expression)} characters long: at most 500" in message
    assert len(message) < 500


def test_unknown_timezone_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown timezone 'America/Gotham'"):
        schedule_from_dict({"type": "cron", "cron": "0 9 * * *", "timezone": "America/Gotham"})


def test_json_form_round_trips() -> None:
    data = {"type": "cron", "cron": "0 9 * * *", "timezone": LONDON}
    schedule = schedule_from_dict(data)
    assert isinstance(schedule, CronSchedule)
    dumped = schedule.model_dump(mode="json")
    assert dumped == {"type": "cron", "cron": "0 9 * * *", "timezone": LONDON, "day_or": True}
    assert schedule_from_dict(dumped) == schedule


@pytest.mark.parametrize(
    ("expression", "timezone", "text"),
    [
        ("*/15 * * * *", "UTC", "every 15 minutes"),
        ("0 9 * * 1-5", NEW_YORK, "at 09:00 on Mon–Fri (America/New_York)"),
        ("30 2 * * *", LONDON, "at 02:30 every day (Europe/London)"),
        ("5 * * * *", "UTC", "every hour at :05"),
        ("0 0 1 * *", "UTC", "at 00:00 on day 1 of the month (UTC)"),
        ("0 9,17 * * sat,sun", "UTC", "at 09:00, 17:00 on Sun, Sat (UTC)"),
        ("*/1 * * * *", "UTC", "every minute"),
        ("0-59/1 * * * *", "UTC", "every minute"),
        ("*/1 9-17 * * *", "UTC", "every minute of hours 09–17 every day (UTC)"),
        ("0,15,30,45 * * * *", "UTC", "every 15 minutes"),
        ("0 0 L * *", "UTC", "at 00:00 on the last day of the month (UTC)"),
        ("0 0 1,L * *", "UTC", "at 00:00 on days 1 and the last day of the month (UTC)"),
        ("0 9 15W * *", LONDON, "at 09:00 on the weekday nearest day 15 of the month (Europe/London)"),
        ("0 9 ? * 5#2", "UTC", "at 09:00 on the 2nd Fri of the month (UTC)"),
        ("0 9 ? * 1#1,1#3", "UTC", "at 09:00 on the 1st and 3rd Mon of the month (UTC)"),
        ("0 18 * * L5", "UTC", "at 18:00 on the last Fri of the month (UTC)"),
        ("0 0 L * fri", "UTC", "at 00:00 on the last day of the month or on Fri (UTC)"),
        ("0 0 ? * mon", "UTC", "at 00:00 on Mon (UTC)"),
        ("@daily", "UTC", "at 00:00 every day (UTC)"),
    ],
)
def test_describe(expression: str, timezone: str, text: str) -> None:
    assert cron(expression, timezone).describe() == text


def test_describe_says_and_when_day_or_is_false() -> None:
    assert cron("0 0 L * fri", day_or=False).describe() == "at 00:00 on the last day of the month and on Fri (UTC)"


def test_day_fields_that_never_meet_with_day_or_false_are_refused() -> None:
    with pytest.raises(ValidationError, match="'0 0 15 \\* 5#2' can never fire"):
        cron("0 0 15 * 5#2", day_or=False)  # the 2nd Friday falls on the 8th to the 14th


# --- cross-check against a minute-by-minute walk ---------------------------------------------------


def _brute_force(schedule: CronSchedule, start: datetime, days: int) -> list[datetime]:
    """Every matching wall-clock minute in ``days`` days, resolved by the DST rule, sorted, distinct."""
    from sluice.schedules import resolve_local_time

    spec, zone = schedule.spec, schedule.zone
    both = not schedule.day_or or schedule.cron.split()[2].startswith("*") or schedule.cron.split()[4].startswith("*")
    local_start = start.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0) - timedelta(hours=3)
    found: dict[datetime, datetime] = {}
    for step in range(days * 24 * 60):
        wall = local_start + timedelta(minutes=step)
        on_day = wall.day in spec.days_of_month
        on_weekday = (wall.weekday() + 1) % 7 in spec.weekdays
        day_matches = (on_day and on_weekday) if both else (on_day or on_weekday)
        if wall.minute in spec.minutes and wall.hour in spec.hours and wall.month in spec.months and day_matches:
            resolved = resolve_local_time(wall, zone)
            if resolved >= start:
                found[resolved.astimezone(UTC)] = resolved
    return [found[instant] for instant in sorted(found)]


@pytest.mark.parametrize(
    ("expression", "timezone", "start", "day_or"),
    [
        ("*/7 1-3 * * *", NEW_YORK, "2026-03-07T12:00-05:00", True),
        ("*/7 0-3 * * *", NEW_YORK, "2026-10-31T12:00-04:00", True),
        ("15,45 0-2 * * *", LONDON, "2026-03-28T12:00+00:00", True),
        ("15,45 0-2 * * *", LONDON, "2026-10-24T12:00+01:00", True),
        ("0 */5 13 * fri", "UTC", "2026-02-01T00:00+00:00", True),
        ("0 */5 13 * fri", "UTC", "2026-02-01T00:00+00:00", False),
        ("30 2 28-31 * *", "Australia/Sydney", "2026-01-27T00:00+11:00", True),
        ("59 23 * * 0", "Asia/Kolkata", "2026-06-01T00:00+05:30", True),
    ],
)
def test_matches_a_minute_by_minute_walk(expression: str, timezone: str, start: str, day_or: bool) -> None:
    schedule = cron(expression, timezone, day_or)
    window_start = at(start)
    expected = _brute_force(schedule, window_start, days=40)
    window_end = window_start + timedelta(days=39)
    got = schedule.get_dates(10_000, start=window_start, end=window_end)
    expected = [moment for moment in expected if moment <= window_end]
    assert expected, "the window should contain some runs"
    assert [moment.astimezone(UTC) for moment in got] == [moment.astimezone(UTC) for moment in expected]
    assert [moment.replace(tzinfo=None) for moment in got] == [moment.replace(tzinfo=None) for moment in expected]


def test_null_timezone_means_utc() -> None:
    schedule = schedule_from_dict({"type": "cron", "cron": "0 9 * * *", "timezone": None})
    assert schedule.model_dump(mode="json")["timezone"] == "UTC"
