"""Human-readable one-line descriptions of cron expressions, for tables."""

from __future__ import annotations

from collections.abc import Callable

from sluice_cron.parser import CronSpec, days_combine_with_and

WEEKDAY_LABELS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
MONTH_LABELS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# More clock times than this are summarised instead of listed.
MAX_LISTED_TIMES = 4


def describe_cron(spec: CronSpec, day_or: bool, timezone: str) -> str:
    """E.g. "every 15 minutes", "at 09:00 on Mon–Fri (America/New_York)"."""
    time_part = _describe_times(spec)
    day_part = _describe_days(spec, day_or)
    month_part = _describe_months(spec)
    if not day_part and not month_part:
        if spec.fields[1] == "*":
            return time_part  # a pattern within every hour reads the same in every time zone
        day_part = "every day"
    words = " ".join(part for part in (time_part, day_part, month_part) if part)
    return f"{words} ({timezone})"


def _describe_times(spec: CronSpec) -> str:
    minute_field, hour_field = spec.fields[0], spec.fields[1]
    if hour_field == "*":
        if minute_field == "*":
            return "every minute"
        step = _whole_range_step(minute_field)
        if step is not None:
            return f"every {step} minutes"
        minutes = ", ".join(f":{minute:02d}" for minute in spec.minutes)
        return f"every hour at {minutes}"
    if len(spec.hours) * len(spec.minutes) <= MAX_LISTED_TIMES:
        return "at " + ", ".join(f"{hour:02d}:{minute:02d}" for hour in spec.hours for minute in spec.minutes)
    hours = _list_or_ranges(spec.hours, lambda hour: f"{hour:02d}")
    if minute_field == "*":
        return f"every minute of hours {hours}"
    step = _whole_range_step(minute_field)
    if step is not None:
        return f"every {step} minutes of hours {hours}"
    minutes = ", ".join(f":{minute:02d}" for minute in spec.minutes)
    return f"at {minutes} past hours {hours}"


def _describe_days(spec: CronSpec, day_or: bool) -> str:
    weekday_part = "" if spec.fields[4] == "*" else "on " + _list_or_ranges(spec.weekdays, WEEKDAY_LABELS.__getitem__)
    day_part = ""
    if spec.fields[2] != "*":
        # A long list (a step such as */2) reads better as written.
        days = _list_or_ranges(spec.days_of_month, str) if len(spec.days_of_month) <= 6 else spec.fields[2]
        day_part = f"on day {days} of the month" if len(spec.days_of_month) == 1 else f"on days {days} of the month"
    if weekday_part and day_part:
        joiner = " and " if days_combine_with_and(spec, day_or) else " or "
        return day_part + joiner + weekday_part
    return weekday_part or day_part


def _describe_months(spec: CronSpec) -> str:
    if spec.fields[3] == "*":
        return ""
    return "in " + _list_or_ranges(spec.months, lambda month: MONTH_LABELS[month - 1])


def _whole_range_step(field: str) -> int | None:
    """The step of ``*/s`` or ``0/s`` when it divides the hour evenly; None for anything else."""
    base, slash, step = field.partition("/")
    if slash and base in ("*", "0") and step.isdigit() and 60 % int(step) == 0:
        return int(step)
    return None


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
