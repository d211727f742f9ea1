"""Human-readable one-line descriptions of cron expressions, for tables."""

from __future__ import annotations

from collections.abc import Callable

from sluice_cron.expression import DAY_OF_MONTH, DAY_OF_WEEK, LAST, CronFields

WEEKDAY_LABELS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
MONTH_LABELS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 5: "5th", LAST: "last"}

ALL_MINUTES = tuple(range(60))
ALL_HOURS = tuple(range(24))
ALL_MONTHS = tuple(range(1, 13))
# More clock times than this are summarised instead of listed.
MAX_LISTED_TIMES = 4
# More days of the month than this read better as the field was written (e.g. */2).
MAX_LISTED_DAYS = 6


def describe_cron(fields: CronFields, day_or: bool, timezone: str) -> str:
    """E.g. "every 15 minutes", "at 09:00 on Mon–Fri (America/New_York)"."""
    time_part = _describe_times(fields)
    day_part = _describe_days(fields, day_or)
    month_part = _describe_months(fields)
    if not day_part and not month_part:
        if fields.hours == ALL_HOURS:
            return time_part  # a pattern within every hour reads the same in every time zone
        day_part = "every day"
    words = " ".join(part for part in (time_part, day_part, month_part) if part)
    return f"{words} ({timezone})"


def _describe_times(fields: CronFields) -> str:
    minutes, hours = fields.minutes, fields.hours
    step = _minute_step(minutes)
    if hours == ALL_HOURS:
        if step == 1:
            return "every minute"
        if step is not None:
            return f"every {step} minutes"
        return "every hour at " + ", ".join(f":{minute:02d}" for minute in minutes)
    if len(hours) * len(minutes) <= MAX_LISTED_TIMES:
        return "at " + ", ".join(f"{hour:02d}:{minute:02d}" for hour in hours for minute in minutes)
    hour_list = _list_or_ranges(hours, lambda hour: f"{hour:02d}")
    if step == 1:
        return f"every minute of hours {hour_list}"
    if step is not None:
        return f"every {step} minutes of hours {hour_list}"
    return "at " + ", ".join(f":{minute:02d}" for minute in minutes) + f" past hours {hour_list}"


def _describe_days(fields: CronFields, day_or: bool) -> str:
    day_part = "" if fields.any_day_of_month else _describe_days_of_month(fields)
    weekday_part = "" if fields.any_day_of_week else _describe_weekdays(fields)
    if weekday_part and day_part:
        starred = fields.fields[DAY_OF_MONTH].startswith("*") or fields.fields[DAY_OF_WEEK].startswith("*")
        joiner = " and " if starred or not day_or else " or "
        return day_part + joiner + weekday_part
    return weekday_part or day_part


def _describe_days_of_month(fields: CronFields) -> str:
    if fields.nearest_weekday is not None:
        return f"on the weekday nearest day {fields.nearest_weekday} of the month"
    days = fields.days_of_month
    if not days:
        return "on the last day of the month"
    # a long list (a step such as */2) reads better as written
    listed = fields.fields[DAY_OF_MONTH] if len(days) > MAX_LISTED_DAYS else _list_or_ranges(days, str)
    plural = "day" if len(days) == 1 and not fields.last_day_of_month else "days"
    last = " and the last day" if fields.last_day_of_month else ""
    return f"on {plural} {listed}{last} of the month"


def _describe_weekdays(fields: CronFields) -> str:
    if not fields.nth_weekdays:
        return "on " + _list_or_ranges(fields.weekdays, WEEKDAY_LABELS.__getitem__)
    by_weekday: dict[int, list[int]] = {}
    for weekday, n in fields.nth_weekdays:
        by_weekday.setdefault(weekday, []).append(n)
    phrases = []
    for weekday, ns in by_weekday.items():
        ordered = sorted(ns, key=lambda n: 6 if n == LAST else n)  # "1st and last", not "last and 1st"
        phrases.append(" and ".join(ORDINALS[n] for n in ordered) + f" {WEEKDAY_LABELS[weekday]}")
    return "on the " + ", ".join(phrases) + " of the month"


def _describe_months(fields: CronFields) -> str:
    if fields.months == ALL_MONTHS:
        return ""
    return "in " + _list_or_ranges(fields.months, lambda month: MONTH_LABELS[month - 1])


def _minute_step(minutes: tuple[int, ...]) -> int | None:
    """``s`` when the minutes are 0, s, 2s… through the hour (``*/s`` and its spellings); else None."""
    if len(minutes) < 2 or minutes[0] != 0:
        return None
    step = minutes[1]
    return step if 60 % step == 0 and minutes == tuple(range(0, 60, step)) else None


def _list_or_ranges(values: tuple[int, ...], label: Callable[[int], str]) -> str:
    """ "Mon–Fri", "Mon, Wed, Fri", "1–5, 10": consecutive runs of three or more become ranges."""
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{label(run[0])}–{label(run[-1])}")
        else:
            parts.extend(label(value) for value in run)
    return ", ".join(parts)
