"""The schedule budget (``sluice.schedule_budget``, through ``sluice.schedules``): every ``get_dates``,
of any schedule type, stops past the candidates it may scan or the time it may take."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from sluice.errors import ConfigurationError
from sluice.schedule_budget import (
    Computation,
    ScheduleBudget,
    ScheduleComputationStopped,
    schedule_budget,
    stop_schedule_computations,
)
from sluice.schedules import (
    DatesOutOfRange,
    Schedule,
    ScheduleBudgetExceeded,
    check_next_dates,
    current_budget,
    note_scanned,
)
from sluice_cron.schedule import CronSchedule
from sluice_rrule.schedule import RRuleSchedule

#: Small enough that every test below stops within a fraction of a second.
TIGHT = ScheduleBudget(max_scanned=10_000, max_seconds=0.3)
#: Never reached by the scan counts below: only the wall-time limit can stop the computation.
TIME_ONLY = ScheduleBudget(max_scanned=10**12, max_seconds=0.3)
#: So large that only ``stop_schedule_computations`` ends a computation under it.
ENDLESS = ScheduleBudget(max_scanned=10**12, max_seconds=3600)


class Spinning(Schedule):
    """A third-party schedule whose ``get_dates`` never returns and never reports what it scans."""

    type: Literal["spinning"] = "spinning"

    def get_dates(self, n: int, start: datetime | None = None, end: datetime | None = None) -> list[datetime]:
        """Loops forever."""
        while True:
            pass

    def describe(self) -> str:
        """Always the same."""
        return "never"


class Walking(Schedule):
    """A third-party schedule that walks candidates forever, reporting each one."""

    type: Literal["walking"] = "walking"

    def get_dates(self, n: int, start: datetime | None = None, end: datetime | None = None) -> list[datetime]:
        """Counts candidates forever."""
        while True:
            note_scanned()

    def describe(self) -> str:
        """Always the same."""
        return "walking"


class Overflowing(Schedule):
    """A third-party schedule whose arithmetic goes past the year 9999."""

    type: Literal["overflowing"] = "overflowing"

    def get_dates(self, n: int, start: datetime | None = None, end: datetime | None = None) -> list[datetime]:
        """Raises ``OverflowError`` as datetime arithmetic does."""
        return [datetime.max.replace(tzinfo=UTC) + (datetime.max - datetime.min)]

    def describe(self) -> str:
        """Always the same."""
        return "overflowing"


def test_a_count_rule_counted_from_the_default_dtstart_is_stopped_at_the_scanned_limit() -> None:
    schedule = RRuleSchedule(rrule="FREQ=SECONDLY;COUNT=1000000000")
    with schedule_budget(TIGHT), pytest.raises(ScheduleBudgetExceeded) as raised:
        schedule.get_dates(5)
    message = str(raised.value)
    assert "FREQ=SECONDLY;COUNT=1000000000" in message
    assert "more than 10,000 candidate times scanned" in message and "SLUICE_SCHEDULE_MAX_SCANNED" in message
    assert "2020-01-01 00:00, the default" in message
    assert "give a DTSTART close to now, drop COUNT, or use a coarser FREQ" in message
    assert "\n" not in message


def test_a_rule_that_never_returns_to_sluice_is_stopped_at_the_time_limit() -> None:
    # dateutil searches this rule second by second up to the year 9999 without yielding anything.
    schedule = RRuleSchedule.model_construct(rrule="FREQ=SECONDLY;BYSETPOS=2", timezone=None)
    with schedule_budget(TIME_ONLY), pytest.raises(ScheduleBudgetExceeded) as raised:
        schedule.get_dates(1)
    message = str(raised.value)
    assert "more than 0.3 s of computing" in message and "SLUICE_SCHEDULE_MAX_SECONDS" in message
    assert "use a coarser FREQ, fewer BY parts, or an UNTIL" in message


def test_building_a_rule_whose_can_fire_check_never_ends_is_refused_within_the_budget() -> None:
    from sluice.schedules import schedule_from_dict

    with schedule_budget(TIME_ONLY), pytest.raises(ScheduleBudgetExceeded) as raised:
        schedule_from_dict({"type": "rrule", "rrule": "FREQ=SECONDLY;BYSETPOS=2"})
    assert "is too costly to compute" in str(raised.value)


def test_a_third_party_schedule_that_never_returns_is_stopped_too() -> None:
    with schedule_budget(TIME_ONLY), pytest.raises(ScheduleBudgetExceeded) as raised:
        Spinning().get_dates(1)
    assert str(raised.value).startswith("the spinning schedule {} is too costly to compute: more than 0.3 s")
    assert raised.value.advice == "choose a schedule whose next times come sooner or are simpler to find"


def test_a_third_party_schedule_that_reports_its_candidates_is_stopped_at_the_scanned_limit() -> None:
    with schedule_budget(TIGHT), pytest.raises(ScheduleBudgetExceeded, match="more than 10,000 candidate times"):
        Walking().get_dates(1)


def test_a_thread_stopped_by_the_watchdog_computes_normally_afterwards() -> None:
    with schedule_budget(TIME_ONLY):
        for _ in range(3):
            with pytest.raises(ScheduleBudgetExceeded):
                Spinning().get_dates(1)
            dates = CronSchedule(cron="0 9 * * *").get_dates(3, start=datetime(2026, 1, 1, tzinfo=UTC))
            assert [moment.day for moment in dates] == [1, 2, 3]


def test_calls_run_as_one_computation_share_one_budget() -> None:
    schedule = CronSchedule(cron="* * * * *")
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def six_thousand_minutes() -> None:
        schedule.get_dates(3000, start)
        schedule.get_dates(3000, start)

    with schedule_budget(ScheduleBudget(max_scanned=5000, max_seconds=60)):
        six_thousand_minutes()  # each call alone is within the budget
        with pytest.raises(ScheduleBudgetExceeded, match="more than 5,000 candidate times"):
            Computation().run(six_thousand_minutes)


def test_stopping_every_computation_ends_one_running_in_another_thread() -> None:
    outcome: dict[str, Any] = {}
    started = threading.Event()

    class Announcing(Schedule):
        type: Literal["announcing"] = "announcing"

        def get_dates(self, n: int, start: datetime | None = None, end: datetime | None = None) -> list[datetime]:
            started.set()
            while True:
                pass

        def describe(self) -> str:
            return "announcing"

    def compute() -> None:
        with schedule_budget(ENDLESS):
            try:
                Announcing().get_dates(1)
            except ScheduleBudgetExceeded as exc:
                outcome["error"] = exc

    worker = threading.Thread(target=compute)
    worker.start()
    assert started.wait(30)
    assert stop_schedule_computations("the server is shutting down") >= 1
    worker.join(30)
    assert not worker.is_alive()
    assert isinstance(outcome["error"], ScheduleComputationStopped)
    assert str(outcome["error"]) == "computing a schedule's dates was stopped: the server is shutting down"


def test_an_overflow_inside_get_dates_is_a_dates_out_of_range_error() -> None:
    with pytest.raises(DatesOutOfRange) as raised:
        Overflowing().get_dates(1)
    assert isinstance(raised.value, ConfigurationError)
    assert "gives dates outside the years 1-9999" in str(raised.value)


def test_the_default_budget_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICE_SCHEDULE_MAX_SCANNED", raising=False)
    monkeypatch.delenv("SLUICE_SCHEDULE_MAX_SECONDS", raising=False)
    assert current_budget() == ScheduleBudget(max_scanned=100_000, max_seconds=1.0)
    monkeypatch.setenv("SLUICE_SCHEDULE_MAX_SCANNED", "500")
    monkeypatch.setenv("SLUICE_SCHEDULE_MAX_SECONDS", "2.5")
    assert current_budget() == ScheduleBudget(max_scanned=500, max_seconds=2.5)
    with schedule_budget(TIGHT):
        assert current_budget() == TIGHT


def test_checking_the_next_dates_passes_a_normal_schedule_and_one_with_no_date_left() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    with schedule_budget(TIGHT):
        assert len(check_next_dates(CronSchedule(cron="*/5 * * * *"), now)) == 10
        assert check_next_dates(RRuleSchedule(rrule="FREQ=DAILY;COUNT=3"), now) == []
        with pytest.raises(ScheduleBudgetExceeded):
            check_next_dates(RRuleSchedule(rrule="FREQ=SECONDLY;COUNT=1000000000"), now)
