"""Walk the wall-clock times a parsed cron expression matches, day by day.

The walk visits only the months and days that match, and within a day only the matching
hour/minute pairs, so its cost is proportional to the number of times produced, not to the number of
minutes in between.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections.abc import Iterator
from datetime import date, datetime

from sluice_cron.parser import CronSpec, days_combine_with_and

LAST_YEAR = 9999


def matching_days(spec: CronSpec, day_or: bool, year: int, month: int) -> list[int]:
    """The days of ``year``-``month`` on which the expression fires."""
    days_in_month = calendar.monthrange(year, month)[1]
    # Cron counts weekdays from Sunday = 0; ``date.weekday()`` from Monday = 0.
    first_weekday = (date(year, month, 1).weekday() + 1) % 7
    days_of_month = spec.days_of_month
    weekdays = spec.weekdays
    require_both = days_combine_with_and(spec, day_or)
    result = []
    for day in range(1, days_in_month + 1):
        on_day_of_month = day in days_of_month
        on_weekday = (first_weekday + day - 1) % 7 in weekdays
        if (on_day_of_month and on_weekday) if require_both else (on_day_of_month or on_weekday):
            result.append(day)
    return result


def iter_wall_times(spec: CronSpec, day_or: bool, after: datetime) -> Iterator[datetime]:
    """Naive local times matching ``spec``, ascending, from the minute containing ``after`` on."""
    times = [(hour, minute) for hour in spec.hours for minute in spec.minutes]
    first_day = after.date()
    first_time_index = bisect_left(times, (after.hour, after.minute))
    for year in range(after.year, LAST_YEAR + 1):
        for month in spec.months:
            if (year, month) < (first_day.year, first_day.month):
                continue
            for day in matching_days(spec, day_or, year, month):
                current = date(year, month, day)
                if current < first_day:
                    continue
                start_index = first_time_index if current == first_day else 0
                for hour, minute in times[start_index:]:
                    yield datetime(year, month, day, hour, minute)
