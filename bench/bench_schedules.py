"""Median wall time of ``get_dates(1000)`` for representative schedules, one line each; then how long
a costly schedule takes to be refused under the default schedule budget, and how many candidates a
normal schedule scans.

Run with ``.venv/bin/python bench/bench_schedules.py`` (or ``make bench``). Targets: under 20 ms each
for ``get_dates(1000)``; a refusal within about ``SLUICE_SCHEDULE_MAX_SECONDS`` (1 s).
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


#: Costly rules: (label, rule).
COSTLY = [
    ("COUNT counted from the default DTSTART", "FREQ=SECONDLY;COUNT=1000000000"),
    ("never fires, searched inside dateutil", "FREQ=SECONDLY;BYSETPOS=2"),
]


def refusal(rule: str) -> tuple[float, str]:
    """Milliseconds until ``get_dates(5)`` of ``rule`` raises ``ScheduleBudgetExceeded`` under the
    default budget, and which limit stopped it."""
    from sluice.schedule_budget import ScheduleBudget, ScheduleBudgetExceeded, schedule_budget

    schedule = RRuleSchedule.model_construct(rrule=rule, timezone=None)  # skip the check that it can fire
    began = time.perf_counter()
    try:
        with schedule_budget(ScheduleBudget()):
            schedule.get_dates(5)
    except ScheduleBudgetExceeded as exc:
        limit = "scanned" if "SCANNED" in exc.reason else "seconds"
        return (time.perf_counter() - began) * 1000, limit
    raise AssertionError(f"{rule} was not refused")


def scanned_for_next_runs(schedule: Schedule, n: int = 100) -> int:
    """How many candidates ``get_dates(n, START)`` scans (what the scheduler asks for at most)."""
    from sluice.schedule_budget import Computation

    computation = Computation()
    computation.run(schedule.get_dates, n, START)
    return computation.scanned


def main() -> None:
    """Print one figure per case."""
    for type_name, label, build in CASES:
        print(f"{type_name} ({label}) get_dates({COUNT}) median_ms={median_ms(build()):.2f}")
    for type_name, label, build in CASES:
        print(f"{type_name} ({label}) candidates scanned for the next 100 runs={scanned_for_next_runs(build())}")
    for label, rule in COSTLY:
        elapsed, limit = refusal(rule)
        print(f"rrule {rule} ({label}) refused by the {limit} limit after ms={elapsed:.0f}")


if __name__ == "__main__":
    main()
