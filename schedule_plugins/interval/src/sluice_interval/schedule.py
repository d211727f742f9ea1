"""``IntervalSchedule``: fire every ``interval`` from an anchor date."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationInfo, WithJsonSchema, field_serializer, field_validator, model_validator

from sluice.schedules import (
    Schedule,
    Shorthand,
    get_timezone,
    resolve_local_time,
    scanner,
    timedelta_words,
    wall_clock_dates,
)

#: Intervals at least this long keep the anchor's wall-clock time; shorter ones are exact elapsed time.
WALL_CLOCK_THRESHOLD = timedelta(hours=24)

WEEKDAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class IntervalSchedule(Schedule):
    """Fire at ``anchor_date + k·interval`` for every whole number ``k``.

    Intervals shorter than 24 hours are exact elapsed time: an hourly schedule fires every UTC hour,
    both 01:00s of a fall-back night included. Intervals of 24 hours or more step the anchor's local
    wall-clock time in ``timezone``: a daily 09:00 stays at 09:00 local through DST changes, with
    the DST rule of every wall-clock schedule for times that fall in a gap or a repeated hour.

    JSON form: ``{"type": "interval", "interval": 3600, "anchor_date": "2026-01-01T00:00:00Z",
    "timezone": "UTC"}``; ``interval`` is a number of seconds. A missing ``anchor_date`` becomes the
    time of construction (to the second) and is kept, so the schedule is the same on every load.
    """

    type: Literal["interval"] = "interval"
    shorthands: ClassVar[tuple[Shorthand, ...]] = (
        Shorthand("--interval", field="interval", type=float, help="An interval schedule, in seconds."),
    )
    untyped_key: ClassVar[str | None] = "interval"
    timezone: str = Field(
        default="UTC",
        description="IANA time zone of the results and of the wall-clock time long intervals keep; "
        "defaults to the anchor's zone when it has one, else UTC.",
    )
    # The JSON form is a number of seconds (see the serializer), and so is its schema: forms ask for one.
    interval: Annotated[timedelta, WithJsonSchema({"type": "number", "exclusiveMinimum": 0})] = Field(
        description="Time between runs, in seconds (or a timedelta); more than 0.", title="Every (seconds)"
    )
    anchor_date: datetime = Field(
        description="A time the schedule fires at; naive times are read in `timezone`. Defaults to now."
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        """Make the anchor deterministic (now, once) and take the time zone from a zoned anchor."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("anchor_date") is None:
            data["anchor_date"] = datetime.now(UTC).replace(microsecond=0)
        anchor = data["anchor_date"]
        if data.get("timezone") is None:
            zone = anchor.tzinfo if isinstance(anchor, datetime) else None
            data["timezone"] = zone.key if isinstance(zone, ZoneInfo) else "UTC"
        return data

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"interval must be more than 0 seconds, got {_seconds(value)!r}")
        return value

    @field_validator("anchor_date")
    @classmethod
    def _anchor_in_zone(cls, value: datetime, info: ValidationInfo) -> datetime:
        """Read a naive anchor in the schedule's zone, and express every anchor in that zone."""
        timezone = info.data.get("timezone")
        if timezone is None:  # the time zone was invalid; that error is reported on its own
            return value
        zone = get_timezone(timezone)
        try:
            anchor = resolve_local_time(value, zone) if value.tzinfo is None else value.astimezone(zone)
            anchor.astimezone(UTC)
        except OverflowError:
            where = "UTC" if timezone == "UTC" else f"UTC or in {timezone}"
            raise ValueError(
                f"anchor_date {value.isoformat()} falls outside the years 1-9999 once read in {where}, "
                "which cannot be represented"
            ) from None
        return anchor

    @field_serializer("interval")
    def _interval_seconds(self, value: timedelta) -> int | float:
        return _seconds(value)

    @property
    def keeps_wall_clock(self) -> bool:
        """True when the interval is 24 hours or more, so runs keep the anchor's local time."""
        return self.interval >= WALL_CLOCK_THRESHOLD

    def get_dates(self, n: int, start: datetime | None = None, end: datetime | None = None) -> list[datetime]:
        """At most ``n`` times ``anchor + k·interval`` at or after ``start`` (default now), none after ``end``."""
        start, end = self._bounds(start, end)
        if self.keeps_wall_clock:
            return wall_clock_dates(self._wall_times, self.zone, n, start, end)
        return self._elapsed_dates(n, start, end)

    def _elapsed_dates(self, n: int, start: datetime, end: datetime | None) -> list[datetime]:
        zone, interval = self.zone, self.interval
        anchor = self.anchor_date.astimezone(UTC)
        # The smallest k with anchor + k·interval >= start (ceiling division on exact timedeltas).
        step = -((anchor - start.astimezone(UTC)) // interval)
        current = anchor + step * interval
        end_utc = None if end is None else end.astimezone(UTC)
        results = []
        scanned = scanner()
        try:
            while len(results) < n and (end_utc is None or current <= end_utc):
                scanned(1)
                results.append(current.astimezone(zone))
                current += interval
        except OverflowError:  # past the year 9999 (in UTC or in ``zone``): no later time exists
            pass
        return results

    def _wall_times(self, after: datetime) -> Iterator[datetime]:
        """Naive local times anchor + k·interval (wall-clock arithmetic) from ``after`` on."""
        anchor = self.anchor_date.astimezone(self.zone).replace(tzinfo=None)
        interval = self.interval
        step = -((anchor - after) // interval)
        try:
            current = anchor + step * interval
            while True:
                yield current
                current += interval
        except OverflowError:
            return

    def describe(self) -> str:
        """E.g. "every 15 minutes", "every day at 09:00 (Europe/London)"."""
        every = _every(self.interval)
        if not self.keeps_wall_clock:
            return every
        local = self.anchor_date.astimezone(self.zone)
        if self.interval % timedelta(days=1):
            return f"{every} from {local:%Y-%m-%d %H:%M} ({self.timezone})"
        if self.interval == timedelta(days=7):
            return f"every week on {WEEKDAY_LABELS[local.weekday()]} at {local:%H:%M} ({self.timezone})"
        return f"{every} at {local:%H:%M} ({self.timezone})"


def _every(interval: timedelta) -> str:
    """ "every hour", "every 15 minutes", "every 1 hour 30 minutes"."""
    words = timedelta_words(interval)
    if interval % timedelta(seconds=1):
        words = f"{interval.total_seconds():g} seconds"
    count, _, unit = words.partition(" ")
    if count == "1" and " " not in unit:
        return f"every {unit}"
    return f"every {words}"


def _seconds(value: timedelta) -> int | float:
    """Whole seconds as an int, otherwise a float."""
    seconds = value.total_seconds()
    return int(seconds) if seconds == int(seconds) else seconds
