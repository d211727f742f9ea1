"""``CronSchedule``: a cron expression evaluated in the local wall-clock time of a time zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from sluice.schedules import Schedule, Shorthand, wall_clock_dates
from sluice_cron.describe import describe_cron
from sluice_cron.expression import CronFields, check_can_fire, check_day_fields, parse_cron
from sluice_cron.walk import iter_wall_times


class CronSchedule(Schedule):
    """Fire whenever a cron expression matches the local time in ``timezone``.

    croniter reads the expression (lists, ranges, steps, names, ``L``, ``W``, ``#``, ``?``, macros)
    and finds the matching days; Sluice resolves each local time by its DST rule.

    ``0 9 * * *`` in ``Europe/London`` is 09:00 London time all year. A time inside a spring-forward
    gap fires at the same offset after the gap (02:30 → 03:30, that day only); a time repeated on a
    fall-back night fires once, at its first occurrence.

    JSON form: ``{"type": "cron", "cron": "0 9 * * 1-5", "timezone": "America/New_York", "day_or": true}``.
    """

    type: Literal["cron"] = "cron"
    shorthands: ClassVar[tuple[Shorthand, ...]] = (
        Shorthand("--cron", field="cron", type=str, help="A cron schedule, e.g. '0 9 * * *'."),
    )
    untyped_key: ClassVar[str | None] = "cron"
    cron: str = Field(
        title="Cron expression",
        description="Five fields (minute hour day-of-month month day-of-week) or a macro like @daily; "
        "croniter's syntax, with L, W, # and ?.",
    )
    timezone: str = Field(default="UTC", description="IANA time zone the expression is evaluated in.")
    day_or: bool = Field(
        default=True,
        description="Whether a day must match day-of-month OR day-of-week (true, as cron does; a field "
        "starting with '*' still combines by AND) or both (false).",
    )

    @field_validator("timezone", mode="before")
    @classmethod
    def _default_timezone(cls, value: object) -> object:
        return "UTC" if value is None else value

    @field_validator("cron")
    @classmethod
    def _parse_expression(cls, value: str) -> str:
        parse_cron(value)
        return value

    @model_validator(mode="after")
    def _check_days(self) -> CronSchedule:
        check_day_fields(self.spec, self.day_or)
        check_can_fire(self.spec, self.day_or)
        return self

    @property
    def spec(self) -> CronFields:
        """The expression as croniter expanded it (cached per expression)."""
        return parse_cron(self.cron)

    def get_dates(self, n: int, start: datetime | None = None, end: datetime | None = None) -> list[datetime]:
        """At most ``n`` fire times at or after ``start`` (default now), none after ``end``, in ``timezone``."""
        start, end = self._bounds(start, end)
        spec, day_or = self.spec, self.day_or

        def candidates(after: datetime) -> Iterator[datetime]:
            return iter_wall_times(spec, day_or, after)

        return wall_clock_dates(candidates, self.zone, n, start, end)

    def describe(self) -> str:
        """E.g. "every 15 minutes" or "at 09:00 on Mon–Fri (America/New_York)"."""
        return describe_cron(self.spec, self.day_or, self.timezone)
