"""The 'rrule' schedule type (``sluice_rrule``): RFC 5545 rules, TZID, EXDATE/RDATE, COUNT/UNTIL, DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from sluice.errors import ConfigurationError
from sluice.schedules import schedule_from_dict
from sluice_rrule.schedule import RRuleSchedule
from tests.schedules.times import LONDON, NEW_YORK, assert_fire_times, assert_sorted_distinct, at


def rrule(text: str, timezone: str | None = None) -> RRuleSchedule:
    return RRuleSchedule(rrule=text, timezone=timezone)


# --- time zones and DST ----------------------------------------------------------------------------


def test_dtstart_tzid_is_respected_without_a_timezone_field() -> None:
    schedule = rrule("DTSTART;TZID=America/New_York:20260302T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO")
    assert schedule.timezone is None
    dates = schedule.get_dates(3, start=at("2026-03-01T00:00+00:00"))
    assert_fire_times(dates, ["2026-03-02T09:00-05:00", "2026-03-09T09:00-04:00", "2026-03-16T09:00-04:00"], NEW_YORK)
    assert [moment.astimezone(UTC).hour for moment in dates] == [14, 13, 13]


def test_daily_0230_across_new_york_spring_forward_fires_0330_then_0230() -> None:
    schedule = rrule("DTSTART;TZID=America/New_York:20260101T023000\nRRULE:FREQ=DAILY")
    dates = schedule.get_dates(3, start=at("2026-03-07T00:00-05:00"))
    assert_fire_times(dates, ["2026-03-07T02:30-05:00", "2026-03-08T03:30-04:00", "2026-03-09T02:30-04:00"], NEW_YORK)


def test_daily_0130_on_new_york_fall_back_fires_once_at_the_first_occurrence() -> None:
    schedule = rrule("FREQ=DAILY;BYHOUR=1;BYMINUTE=30", NEW_YORK)
    dates = schedule.get_dates(3, start=at("2026-10-31T00:00-04:00"))
    assert_fire_times(dates, ["2026-10-31T01:30-04:00", "2026-11-01T01:30-04:00", "2026-11-02T01:30-05:00"], NEW_YORK)


def test_london_transitions_keep_local_time_with_the_dst_rule() -> None:
    schedule = rrule("FREQ=DAILY;BYHOUR=1;BYMINUTE=30", LONDON)
    assert_fire_times(
        schedule.get_dates(3, start=at("2026-03-28T00:00+00:00")),
        ["2026-03-28T01:30+00:00", "2026-03-29T02:30+01:00", "2026-03-30T01:30+01:00"],
        LONDON,
    )
    assert_fire_times(
        schedule.get_dates(2, start=at("2026-10-25T00:00+01:00")),
        ["2026-10-25T01:30+01:00", "2026-10-26T01:30+00:00"],
        LONDON,
    )


def test_hourly_rule_on_fall_back_day_fires_each_wall_time_once() -> None:
    schedule = rrule("FREQ=HOURLY;BYMINUTE=0", NEW_YORK)
    dates = schedule.get_dates(100, start=at("2026-11-01T00:00-04:00"), end=at("2026-11-01T23:59-05:00"))
    assert len(dates) == 24
    assert_sorted_distinct(dates)


def test_timezone_field_wins_over_tzid_and_dtstart_is_converted() -> None:
    schedule = rrule("DTSTART;TZID=America/New_York:20260105T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO", LONDON)
    dates = schedule.get_dates(2, start=at("2026-01-01T00:00+00:00"))
    assert_fire_times(dates, ["2026-01-05T14:00+00:00", "2026-01-12T14:00+00:00"], LONDON)


def test_utc_dtstart_without_timezone_runs_in_utc() -> None:
    schedule = rrule("DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY;COUNT=2")
    assert_fire_times(
        schedule.get_dates(5, start=at("2025-01-01T00:00+00:00")),
        ["2026-01-01T09:00+00:00", "2026-01-02T09:00+00:00"],
        "UTC",
    )


# --- COUNT, UNTIL, EXDATE, RDATE --------------------------------------------------------------------


def test_count_limits_the_occurrences() -> None:
    schedule = rrule("DTSTART:20260101T090000\nRRULE:FREQ=DAILY;COUNT=3", NEW_YORK)
    dates = schedule.get_dates(10, start=at("2025-12-01T00:00-05:00"))
    assert_fire_times(dates, ["2026-01-01T09:00-05:00", "2026-01-02T09:00-05:00", "2026-01-03T09:00-05:00"], NEW_YORK)
    assert schedule.get_dates(10, start=at("2026-01-04T00:00-05:00")) == []


def test_count_counts_from_dtstart_not_from_start() -> None:
    schedule = rrule("DTSTART:20260101T090000\nRRULE:FREQ=DAILY;COUNT=3")
    assert_fire_times(
        schedule.get_dates(10, start=at("2026-01-02T00:00+00:00")),
        [
            "2026-01-02T09:00+00:00",
            "2026-01-03T09:00+00:00",
        ],
        "UTC",
    )


def test_until_in_utc_is_inclusive() -> None:
    schedule = rrule("DTSTART;TZID=Europe/London:20260601T090000\nRRULE:FREQ=DAILY;UNTIL=20260603T080000Z")
    dates = schedule.get_dates(10, start=at("2026-05-01T00:00+00:00"))
    assert_fire_times(dates, ["2026-06-01T09:00+01:00", "2026-06-02T09:00+01:00", "2026-06-03T09:00+01:00"], LONDON)


def test_until_between_the_two_0130s_keeps_the_first_one() -> None:
    schedule = rrule("DTSTART;TZID=America/New_York:20261030T013000\nRRULE:FREQ=DAILY;UNTIL=20261101T060000Z")
    dates = schedule.get_dates(10, start=at("2026-10-01T00:00-04:00"))
    assert_fire_times(dates, ["2026-10-30T01:30-04:00", "2026-10-31T01:30-04:00", "2026-11-01T01:30-04:00"], NEW_YORK)


def test_until_as_a_date_includes_that_whole_day() -> None:
    schedule = rrule("DTSTART:20260601T180000\nRRULE:FREQ=DAILY;UNTIL=20260602")
    dates = schedule.get_dates(10, start=at("2026-05-01T00:00+00:00"))
    assert_fire_times(dates, ["2026-06-01T18:00+00:00", "2026-06-02T18:00+00:00"], "UTC")


def test_exdate_removes_and_rdate_adds_times() -> None:
    schedule = rrule(
        "DTSTART;TZID=America/New_York:20260105T090000\n"
        "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4\n"
        "EXDATE;TZID=America/New_York:20260112T090000\n"
        "RDATE;TZID=America/New_York:20260114T170000,20260201T120000"
    )
    dates = schedule.get_dates(10, start=at("2026-01-01T00:00-05:00"))
    assert_fire_times(
        dates,
        [
            "2026-01-05T09:00-05:00",
            "2026-01-14T17:00-05:00",
            "2026-01-19T09:00-05:00",
            "2026-01-26T09:00-05:00",
            "2026-02-01T12:00-05:00",
        ],
        NEW_YORK,
    )


def test_exdate_in_utc_matches_the_resolved_instant() -> None:
    schedule = rrule("DTSTART;TZID=Europe/London:20260701T090000\nRRULE:FREQ=DAILY;COUNT=3\nEXDATE:20260702T080000Z")
    dates = schedule.get_dates(10, start=at("2026-06-01T00:00+01:00"))
    assert_fire_times(dates, ["2026-07-01T09:00+01:00", "2026-07-03T09:00+01:00"], LONDON)


def test_a_time_moved_by_the_gap_is_ordered_after_an_earlier_real_time() -> None:
    schedule = rrule(
        "DTSTART;TZID=America/New_York:20260308T024500\n"
        "RRULE:FREQ=DAILY;COUNT=2\n"
        "RDATE;TZID=America/New_York:20260308T031000"
    )
    dates = schedule.get_dates(5, start=at("2026-03-01T00:00-05:00"))
    assert_fire_times(dates, ["2026-03-08T03:10-04:00", "2026-03-08T03:45-04:00", "2026-03-09T02:45-04:00"], NEW_YORK)


def test_rdate_only_recurrence() -> None:
    schedule = rrule("RDATE:20260301T100000Z,20260201T100000Z")
    dates = schedule.get_dates(5, start=at("2026-01-01T00:00+00:00"))
    assert_fire_times(dates, ["2026-02-01T10:00+00:00", "2026-03-01T10:00+00:00"], "UTC")


# --- calendar --------------------------------------------------------------------------------------


def test_last_day_of_month_including_february_of_a_leap_year() -> None:
    schedule = rrule("FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=18;BYMINUTE=0", LONDON)
    assert_fire_times(
        schedule.get_dates(4, start=at("2026-01-01T00:00+00:00")),
        ["2026-01-31T18:00+00:00", "2026-02-28T18:00+00:00", "2026-03-31T18:00+01:00", "2026-04-30T18:00+01:00"],
        LONDON,
    )
    assert_fire_times(
        schedule.get_dates(2, start=at("2028-02-01T00:00+00:00")),
        ["2028-02-29T18:00+00:00", "2028-03-31T18:00+01:00"],
        LONDON,
    )


def test_february_29_yearly_fires_in_leap_years() -> None:
    schedule = rrule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=12;BYMINUTE=0")
    dates = schedule.get_dates(2, start=at("2026-01-01T00:00+00:00"))
    assert_fire_times(dates, ["2028-02-29T12:00+00:00", "2032-02-29T12:00+00:00"], "UTC")


def test_bymonthday_31_skips_short_months() -> None:
    schedule = rrule("FREQ=MONTHLY;BYMONTHDAY=31;BYHOUR=0;BYMINUTE=0")
    dates = schedule.get_dates(3, start=at("2026-01-01T00:00+00:00"))
    assert_fire_times(dates, ["2026-01-31T00:00+00:00", "2026-03-31T00:00+00:00", "2026-05-31T00:00+00:00"], "UTC")


def test_minutely_rule_from_the_default_dtstart_keeps_its_alignment() -> None:
    # No DTSTART: the rule counts from 2020-01-01 00:00 local, every 7 minutes.
    schedule = rrule("FREQ=MINUTELY;INTERVAL=7")
    dates = schedule.get_dates(3, start=at("2026-06-01T00:00+00:00"))
    origin = datetime(2020, 1, 1, tzinfo=UTC)
    for moment in dates:
        assert (moment - origin) % timedelta(minutes=7) == timedelta(0)
    assert_fire_times(dates, ["2026-06-01T00:03+00:00", "2026-06-01T00:10+00:00", "2026-06-01T00:17+00:00"], "UTC")


def test_fortnightly_rule_keeps_its_weeks_far_from_dtstart() -> None:
    schedule = rrule("DTSTART:20260105T090000\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO")
    dates = schedule.get_dates(2, start=at("2027-01-01T00:00+00:00"))
    assert_fire_times(dates, ["2027-01-04T09:00+00:00", "2027-01-18T09:00+00:00"], "UTC")


# --- bounds ----------------------------------------------------------------------------------------


def test_n_and_end_bound_the_dates() -> None:
    schedule = rrule("FREQ=HOURLY;BYMINUTE=0")
    assert len(schedule.get_dates(5, start=at("2026-06-01T00:00+00:00"))) == 5
    dates = schedule.get_dates(100, start=at("2026-06-01T10:00+00:00"), end=at("2026-06-01T12:00+00:00"))
    assert_fire_times(dates, ["2026-06-01T10:00+00:00", "2026-06-01T11:00+00:00", "2026-06-01T12:00+00:00"], "UTC")


def test_until_at_the_end_of_time_is_accepted_and_the_rule_fires() -> None:
    start = at("2026-03-01T00:00+00:00")
    for text, timezone in (
        ("FREQ=SECONDLY;UNTIL=99991231T235959Z", None),
        ("FREQ=DAILY;UNTIL=99991231", NEW_YORK),
        ("FREQ=DAILY;UNTIL=99991231T235959Z", "Pacific/Kiritimati"),
    ):
        schedule = schedule_from_dict({"type": "rrule", "rrule": text, "timezone": timezone})
        assert len(schedule.get_dates(3, start=start)) == 3, text
        assert "until 9999-12-31" in schedule.describe()


def test_times_stop_at_the_end_of_the_representable_range() -> None:
    schedule = rrule("DTSTART:99991231T235959\nRRULE:FREQ=SECONDLY")
    assert schedule.get_dates(3, start=at("2026-03-01T00:00+00:00")) == [datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)]
    hourly = rrule("FREQ=HOURLY", "Pacific/Kiritimati")  # 10:00 UTC on 9999-12-31 is already the year 10000 there
    assert hourly.get_dates(5, start=at("9999-12-31T08:00+00:00"))[-1].isoformat() == "9999-12-31T23:00:00+14:00"


@pytest.mark.parametrize(
    ("text", "timezone"),
    [
        ("DTSTART;TZID=America/New_York:99991231T230000\nRRULE:FREQ=HOURLY", None),
        ("RDATE:00010101T000000Z", NEW_YORK),
        ("RRULE:FREQ=DAILY\nEXDATE:00010101T000000", "Asia/Tokyo"),
    ],
)
def test_a_date_outside_the_representable_range_is_refused_quoting_it(text: str, timezone: str | None) -> None:
    with pytest.raises(ConfigurationError, match="falls outside the years 1-9999 once read in UTC or in"):
        schedule_from_dict({"type": "rrule", "rrule": text, "timezone": timezone})


def test_a_count_rule_too_costly_to_expand_names_dtstart_in_its_advice() -> None:
    from sluice.schedule_budget import ScheduleBudget, ScheduleBudgetExceeded, schedule_budget

    with_dtstart = rrule("DTSTART:20200101T000000\nRRULE:FREQ=SECONDLY;COUNT=1000000000")
    with schedule_budget(ScheduleBudget(max_scanned=1000)), pytest.raises(ScheduleBudgetExceeded) as raised:
        with_dtstart.get_dates(1, start=at("2026-03-01T00:00+00:00"))
    assert "COUNT is counted from DTSTART (2020-01-01 00:00), so every time since then is scanned" in str(raised.value)


# --- errors, JSON and descriptions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "can never fire: BYMONTHDAY=30 does not occur in BYMONTH=2"),
        ("FREQ=SOMETIMES", "invalid RRULE 'FREQ=SOMETIMES'"),
        ("BYDAY=MO", "RRULE 'BYDAY=MO' has no FREQ"),
        ("FREQ=DAILY;BYHOUR=25", "invalid RRULE 'FREQ=DAILY;BYHOUR=25'"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20260101T000000Z", "gives both COUNT and UNTIL"),
        ("FREQ=DAILY;COUNT=0", "COUNT=0, so it never fires"),
        ("DTSTART:2026\nRRULE:FREQ=DAILY", "invalid DTSTART value '2026'"),
        ("DTSTART:20260230T000000\nRRULE:FREQ=DAILY", "invalid DTSTART value '20260230T000000': not a real date"),
        ("DTSTART;TZID=Mars/Olympus:20260101T000000\nRRULE:FREQ=DAILY", "unknown timezone 'Mars/Olympus'"),
        ("X-WHEN:now\nRRULE:FREQ=DAILY", "unsupported rrule property 'X-WHEN'"),
        ("DTSTART:20260101T000000\nRRULE:FREQ=DAILY;UNTIL=20250101T000000Z", "can never fire"),
        ("DTSTART:20260101T000000\nRRULE:FREQ=DAILY;COUNT=1\nEXDATE:20260101T000000", "can never fire"),
        ("", "empty rrule"),
        ("FREQ=DAILY;FREQ=WEEKLY", "gives FREQ twice"),
    ],
)
def test_invalid_rules_are_rejected_quoting_the_bad_part(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RRuleSchedule(rrule=text)
    assert message in str(caught.value)


def test_unknown_timezone_field_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown timezone 'Nowhere/Town'"):
        schedule_from_dict({"type": "rrule", "rrule": "FREQ=DAILY", "timezone": "Nowhere/Town"})


def test_json_form_round_trips() -> None:
    data = {"type": "rrule", "rrule": "DTSTART;TZID=America/New_York:20260105T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO"}
    schedule = schedule_from_dict(data)
    dumped = schedule.model_dump(mode="json")
    assert dumped == {**data, "timezone": None}
    assert schedule_from_dict(dumped) == schedule


@pytest.mark.parametrize(
    ("text", "timezone", "description"),
    [
        ("FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0", NEW_YORK, "every week on Mon at 09:00 (America/New_York)"),
        ("DTSTART:20260101T023000\nRRULE:FREQ=DAILY;COUNT=10", None, "every day at 02:30, 10 times (UTC)"),
        ("FREQ=MINUTELY;INTERVAL=15", None, "every 15 minutes (UTC)"),
        ("FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17;BYMINUTE=0", LONDON, "every month on last Fri at 17:00 (Europe/London)"),
    ],
)
def test_describe(text: str, timezone: str | None, description: str) -> None:
    assert rrule(text, timezone).describe() == description


@pytest.mark.parametrize(
    "text",
    [
        "DTSTART:20260107T093000\nRRULE:FREQ=WEEKLY;BYDAY=MO,FR",
        "DTSTART:20260101T000000\nRRULE:FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,SU;BYHOUR=8,20;BYMINUTE=15;WKST=SU",
        "DTSTART:20260101T001500\nRRULE:FREQ=HOURLY;INTERVAL=5;BYDAY=MO,WE",
        "DTSTART:20260101T000000\nRRULE:FREQ=MINUTELY;INTERVAL=45;BYHOUR=9,10,11",
        "DTSTART:20260101T000000\nRRULE:FREQ=DAILY;INTERVAL=3;BYDAY=SA;BYHOUR=7",
        "DTSTART:20260101T000000\nRRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9,17;BYSETPOS=-1",
    ],
)
def test_expansion_matches_dateutil_far_from_dtstart(text: str) -> None:
    from dateutil.rrule import rrulestr

    start = datetime(2031, 5, 17, 13, 0)
    expected = [moment.replace(tzinfo=UTC) for moment in rrulestr(text).xafter(start, count=300, inc=True)]
    got = rrule(text).get_dates(300, start=start.replace(tzinfo=UTC))
    assert [moment.astimezone(UTC) for moment in got] == expected
