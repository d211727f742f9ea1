"""Median wall time of ``get_dates(1000)`` for representative schedules, one line each.

Run with ``.venv/bin/python bench/bench_schedules.py`` (or ``make bench``). Target: under 20 ms each.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sluice.schedules import Schedule
from sluice_cron.schedule import CronSchedule
from sluice_interval.schedule import IntervalSchedule
from sluice_rrule.schedule import RRuleSchedule

#: Start every run from the same instant, a little before a DST change, so runs are comparable.
START = datetime(2026, 3, 1, tzinfo=UTC)
REPEATS = 25
COUNT = 1000

CASES: list[tuple[str, str, Callable[[], Schedule]]] = [
    ("cron", "every 15 minutes", lambda: CronSchedule(cron="*/15 * * * *", timezone="America/New_York")),
    ("cron", "weekdays 09:00", lambda: CronSchedule(cron="0 9 * * 1-5", timezone="America/New_York")),
    ("interval", "hourly", lambda: IntervalSchedule(interval=3600, anchor_date=START, timezone="America/New_York")),
    ("interval", "daily", lambda: IntervalSchedule(interval=86400, anchor_date=START, timezone="Europe/London")),
    (
        "rrule",
        "weekly",
        lambda: RRuleSchedule(rrule="FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0", timezone="Europe/London"),
    ),
]


def median_ms(schedule: Schedule) -> float:
    """Median milliseconds of ``get_dates(COUNT, start=START)`` over ``REPEATS`` runs."""
    timings = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        dates = schedule.get_dates(COUNT, start=START)
        timings.append((time.perf_counter() - began) * 1000)
        assert len(dates) == COUNT
    return statistics.median(timings)


def main() -> None:
    """Print one figure per case."""
    for type_name, label, build in CASES:
        print(f"{type_name} ({label}) get_dates({COUNT}) median_ms={median_ms(build()):.2f}")


if __name__ == "__main__":
    main()
