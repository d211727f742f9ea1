"""Walk the local wall-clock times a cron expression matches.

croniter finds the matching days (where ``L``, ``W``, ``#`` and ``day_or`` live), month by month;
every matching day then takes each hour/minute pair croniter expanded. croniter only ever sees naive
times, so it applies no time zone rule of its own: ``sluice.schedules.wall_clock_dates`` resolves
the naive times this yields by Sluice's DST rule.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from functools import lru_cache

from sluice_cron.expression import CronFields, croniter_options

_MINUTE = timedelta(minutes=1)
YearMonth = tuple[int, int]


def iter_wall_times(fields: CronFields, day_or: bool, after: datetime) -> Iterator[datetime]:
    """Naive local times matching ``fields``, ascending, from the minute containing ``after`` on."""
    times = [(hour, minute) for hour in fields.hours for minute in fields.minutes]
    first_day = after.date()
    first_time_index = bisect_left(times, (after.hour, after.minute))
    month: YearMonth | None = (first_day.year, first_day.month)
    while month is not None:
        year, month_number = month
        days, month = matching_days(fields.day_expression, day_or, year, month_number)
        for day in days:
            current = date(year, month_number, day)
            if current < first_day:
                continue
            start_index = first_time_index if current == first_day else 0
            for hour, minute in times[start_index:]:
                yield datetime(year, month_number, day, hour, minute)


@lru_cache(maxsize=4096)
def matching_days(day_expression: str, day_or: bool, year: int, month: int) -> tuple[tuple[int, ...], YearMonth | None]:
    """The days of ``year``-``month`` that croniter matches, and the next (year, month) with one.

    The next month is None past the last date croniter can reach. Cached: the scheduler asks for the
    same months again and again, and each croniter step costs tens of microseconds.
    """
    from croniter import CroniterError, croniter

    days: list[int] = []
    try:
        walker = croniter(day_expression, datetime(year, month, 1) - _MINUTE, **croniter_options(day_or))
        while True:
            moment = walker.get_next(datetime)
            if (moment.year, moment.month) != (year, month):
                return tuple(days), (moment.year, moment.month)
            days.append(moment.day)
    except (CroniterError, OverflowError, ValueError):
        return tuple(days), None  # no later match, or past year 9999
