"""``RRuleSchedule``: an RFC 5545 recurrence rule, in local wall-clock time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from sluice.schedules import Schedule, Shorthand, get_timezone, wall_clock_dates
from sluice_rrule.describe import describe_recurrence
from sluice_rrule.expand import iter_wall_times
from sluice_rrule.parser import Recurrence, RRuleError, parse_recurrence


class RRuleSchedule(Schedule):
    """Fire at the times of an RFC 5545 recurrence.

    ``rrule`` is a rule (``FREQ=WEEKLY;BYDAY=MO;BYHOUR=9``) or several content lines:
    ``DTSTART`` (with or without ``TZID``), ``RRULE`` lines, ``RDATE`` and ``EXDATE`` lines. COUNT and
    UNTIL are honoured. Times are generated in the local wall-clock time of ``timezone`` — or, when
    it is not given, of DTSTART's ``TZID`` (else UTC) — and resolved with the DST rule of every
    wall-clock schedule. Without DTSTART the rule starts at 2020-01-01 00:00 local time.

    JSON form: ``{"type": "rrule", "rrule": "DTSTART;TZID=America/New_York:20260105T090000\\n"
    "RRULE:FREQ=WEEKLY;BYDAY=MO", "timezone": null}``.
    """

    type: Literal["rrule"] = "rrule"
    shorthands: ClassVar[tuple[Shorthand, ...]] = (
        Shorthand("--rrule", field="rrule", type=str, help="An RFC 5545 RRULE schedule."),
    )
    untyped_key: ClassVar[str | None] = "rrule"
    rrule: str = Field(
        description="An RRULE, optionally with DTSTART, RDATE and EXDATE lines (RFC 5545).",
        title="RRULE",
        json_schema_extra={"format": "multiline"},  # several content lines: forms show a text area
    )
    timezone: str | None = Field(default=None, description="IANA time zone; defaults to DTSTART's TZID, else UTC.")

    @field_validator("rrule")
    @classmethod
    def _parse_text(cls, value: str) -> str:
        parse_recurrence(value, None)  # syntax; the time zone is checked with the whole model
        return value

    @model_validator(mode="after")
    def _check_can_fire(self) -> RRuleSchedule:
        recurrence = self.recurrence
        # Generous: no resolved time can be more than a day before its wall-clock reading in UTC.
        earliest = min([recurrence.dtstart, *(_naive(moment) for moment in recurrence.rdates)])
        probe_start = (earliest - min(timedelta(days=2), earliest - datetime.min)).replace(tzinfo=UTC)
        if not self.get_dates(1, start=probe_start):
            raise RRuleError(f"rrule {self.rrule!r} can never fire: it yields no time (check COUNT, UNTIL, EXDATE)")
        return self

    @property
    def recurrence(self) -> Recurrence:
        """The parsed recurrence (cached per text and time zone)."""
        return parse_recurrence(self.rrule, self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        """``timezone``, else DTSTART's TZID, else UTC."""
        return get_timezone(self.recurrence.zone_name)

    def get_dates(self, n: int, start: datetime | None = None, end: datetime | None = None) -> list[datetime]:
        """At most ``n`` times of the recurrence at or after ``start`` (default now), none after ``end``."""
        start, end = self._bounds(start, end)
        recurrence = self.recurrence

        def candidates(after: datetime) -> Iterator[datetime]:
            return iter_wall_times(recurrence, after)

        return wall_clock_dates(candidates, self.zone, n, start, end)

    def describe(self) -> str:
        """E.g. "every week on Mon at 09:00 (America/New_York)"."""
        return describe_recurrence(self.recurrence)

    def budget_advice(self) -> str:
        """What makes a recurrence costly: COUNT counted from a distant DTSTART, or a fine FREQ whose
        times are rare or never come."""
        recurrence = self.recurrence
        if any("COUNT" in rule.params for rule in recurrence.rules):
            start = f"{recurrence.dtstart:%Y-%m-%d %H:%M}" + ("" if recurrence.has_dtstart else ", the default")
            return (
                f"COUNT is counted from DTSTART ({start}), so every time since then is scanned: "
                "give a DTSTART close to now, drop COUNT, or use a coarser FREQ"
            )
        return (
            "its times are rare or never come, and are searched up to the year 9999: "
            "use a coarser FREQ, fewer BY parts, or an UNTIL"
        )


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None) if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)
