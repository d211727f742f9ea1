"""The ``Schedule`` base class, shared time-zone rules, and building a schedule from its JSON form.

Concrete schedule types (cron, interval, rrule, …) come from plugins through the
``register_schedules`` hook. Each is a pydantic model with a ``type`` discriminator:

    >>> schedule_from_dict({"type": "cron", "cron": "0 9 * * *", "timezone": "Europe/London"})

One DST rule applies to every schedule that works in local wall-clock time (RFC 5545's): a local
time inside a spring-forward gap fires at the same offset after the gap (02:30 becomes 03:30 that
day only), and a local time that occurs twice on a fall-back night fires once, at its first
occurrence. ``resolve_local_time`` implements it for plugins.
"""

from __future__ import annotations

import heapq
from abc import abstractmethod
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator

from sluice.errors import ConfigurationError


def get_timezone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; an unknown name raises ``ValueError`` quoting it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(
            f"unknown timezone {name!r}: use an IANA name such as 'UTC', 'Europe/London' or 'America/New_York'"
        ) from exc


def resolve_local_time(naive: datetime, zone: tzinfo) -> datetime:
    """Turn a wall-clock time into an aware datetime by RFC 5545's rule.

    A time that does not exist (inside a spring-forward gap) is read with the offset in force before
    the gap, which moves it forward by the gap's length (02:30 → 03:30). A time that occurs twice
    resolves to its first occurrence. The result is normalised, so its ``utcoffset()`` is right.
    """
    aware = naive.replace(tzinfo=zone, fold=0)
    return aware.astimezone(UTC).astimezone(zone)


def is_first_occurrence(aware: datetime) -> bool:
    """False for the second occurrence of a repeated wall-clock time on a fall-back night."""
    zone = aware.tzinfo
    if zone is None:
        return True
    local = aware.astimezone(zone)
    first = local.replace(fold=0).astimezone(UTC)
    return first == aware.astimezone(UTC)


class Schedule(BaseModel):
    """Base of every schedule type.

    Subclasses declare ``type: Literal["<slug>"] = "<slug>"`` (the discriminator saved in JSON) and
    implement ``get_dates`` and ``describe``. Invalid specs must be rejected at construction with a
    ``ValueError`` quoting the bad part.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Whether the schedule's times are in local wall-clock time (cron, rrule, long intervals).
    wall_clock: ClassVar[bool] = True

    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            get_timezone(value)
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone (UTC when unset)."""
        return get_timezone(self.timezone or "UTC")

    @abstractmethod
    def get_dates(self, n: int, start: datetime | None = None, end: datetime | None = None) -> list[datetime]:
        """At most ``n`` fire times at or after ``start`` (default: now) and not after ``end``.

        The times are timezone-aware in the schedule's time zone, sorted, without duplicates.
        """

    @abstractmethod
    def describe(self) -> str:
        """A one-line description for tables, e.g. "every 15 minutes"."""

    # helpers for subclasses -----------------------------------------------------------------

    def _bounds(self, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime | None]:
        """``start`` (default now) and ``end`` as aware datetimes in the schedule's zone."""
        zone = self.zone
        start = datetime.now(UTC) if start is None else _aware(start)
        return start.astimezone(zone), (None if end is None else _aware(end).astimezone(zone))


def _aware(value: datetime) -> datetime:
    """Treat a naive datetime as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# Offsets are compared over this window: no real time zone changes its offset twice within it, so the
# larger of the offsets at its two ends bounds every offset in between.
_OFFSET_WINDOW = timedelta(days=3)
# A bound computed at a wall time covers offsets up to two days past any time within this of it.
_BOUND_REUSE = timedelta(days=1)
_ZERO = timedelta(0)
_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)


def wall_clock_dates(
    candidates_from: Callable[[datetime], Iterable[datetime]],
    zone: tzinfo,
    n: int,
    start: datetime,
    end: datetime | None = None,
) -> list[datetime]:
    """Resolve a stream of wall-clock times into at most ``n`` sorted, distinct fire times.

    :param candidates_from: called with a naive local time a little before ``start``; returns the
        schedule's local wall-clock times from there on, ascending (duplicates allowed). A naive time
        is resolved by the DST rule (``resolve_local_time``); an aware one is taken as the instant it
        names.
    :param zone: the schedule's time zone; the results are aware datetimes in it.
    :param n: the most times to return.
    :param start: aware; no time before this instant is returned.
    :param end: aware or None; no time after this instant is returned.

    Resolution can reorder times (02:30 inside a spring-forward gap becomes 03:30, after a real
    03:15), so times are held back until no later candidate can resolve before them. Times are
    ordered and de-duplicated by their UTC instant: two wall times of a fall-back night that compare
    equal as local datetimes are still distinct instants.
    """
    if n <= 0:
        return []
    start_utc = start.astimezone(UTC)
    end_utc = None if end is None else end.astimezone(UTC)
    if end_utc is not None and end_utc < start_utc:
        return []
    # Begin early enough that a gap time before ``start`` that resolves after it is still seen.
    earliest_offset = min(_offset_at_instant(start_utc, zone), _offset_at_instant(start_utc - _OFFSET_WINDOW, zone))
    naive_from = (start_utc + earliest_offset).replace(tzinfo=None)

    # Instants are kept as naive UTC datetimes: cheaper to build and compare than aware ones.
    start_at = start_utc.replace(tzinfo=None)
    end_at = None if end_utc is None else end_utc.replace(tzinfo=None)
    results: list[datetime] = []
    pending: list[datetime] = []  # a heap of instants not yet known to be the next ones
    last_emitted: datetime | None = None
    bound_valid_until = datetime.min
    largest_offset = timedelta(0)

    def emit_until(limit: datetime | None) -> bool:
        """Move pending instants at or before ``limit`` to the results; True when done."""
        nonlocal last_emitted
        while pending and (limit is None or pending[0] <= limit):
            instant = heapq.heappop(pending)
            if end_at is not None and instant > end_at:
                return True
            if instant != last_emitted:
                results.append(_to_zone(instant, zone))
                last_emitted = instant
                if len(results) >= n:
                    return True
        return False

    for candidate in candidates_from(naive_from):
        if candidate.tzinfo is None:
            naive = candidate
            # fold=0 reads a gap time with the offset before the gap and a repeated time as its first
            # occurrence: RFC 5545's rule (see ``resolve_local_time``).
            offset = _offset_at_wall(candidate, zone)
            instant = naive - offset
        else:
            instant = candidate.astimezone(UTC).replace(tzinfo=None)
            local = candidate.astimezone(zone)
            offset = local.utcoffset() or _ZERO
            naive = local.replace(tzinfo=None)
        if naive >= bound_valid_until:
            # The largest offset in force over the next few days (at most one change in between).
            largest_offset = max(offset, _offset_at_wall(naive + _OFFSET_WINDOW, zone))
            bound_valid_until = naive + _BOUND_REUSE
        # No candidate from here on can resolve to an instant before this one.
        lower_bound = naive - largest_offset
        if pending and pending[0] <= lower_bound and emit_until(lower_bound):
            return results
        if end_at is not None and lower_bound > end_at:
            break
        if instant >= start_at:
            heapq.heappush(pending, instant)
    emit_until(None)
    return results


def _to_zone(instant: datetime, zone: tzinfo) -> datetime:
    """A naive UTC instant as an aware datetime in ``zone``."""
    if instant.microsecond:  # a float timestamp could round sub-second parts far from 1970
        return instant.replace(tzinfo=UTC).astimezone(zone)
    return datetime.fromtimestamp((instant - _EPOCH) // _SECOND, zone)


def _offset_at_instant(instant: datetime, zone: tzinfo) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def _offset_at_wall(naive: datetime, zone: tzinfo) -> timedelta:
    # A tzinfo reads a datetime's wall-clock fields and fold; handing it the naive value is the same
    # as attaching the zone first, and cheaper.
    return zone.utcoffset(naive) or timedelta(0)


def schedule_from_dict(data: dict[str, Any]) -> Schedule:
    """Build the registered schedule type named by ``data["type"]`` from its JSON form.

    An unknown type says which package to install; an invalid spec raises ``ConfigurationError``
    with pydantic's message, which quotes the bad part.
    """
    from pydantic import ValidationError

    from sluice.plugins import get_registry

    if not isinstance(data, dict) or "type" not in data:
        raise ConfigurationError(
            "a schedule needs a 'type' (cron, interval or rrule), e.g. {'type': 'cron', 'cron': '0 9 * * *'}"
        )
    cls = get_registry("schedule").get(str(data["type"]))
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid {data['type']} schedule: {format_validation_error(exc)}") from None


def format_validation_error(exc: Any) -> str:
    """One line from a pydantic ``ValidationError``: each failing field and its message."""
    parts = []
    for error in exc.errors():
        location = ".".join(str(item) for item in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)


def timedelta_words(delta: timedelta) -> str:
    """ "15 minutes", "1 hour", "1 day 2 hours" — for ``describe()``."""
    seconds = int(delta.total_seconds())
    units = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
    words = []
    for name, size in units:
        count, seconds = divmod(seconds, size)
        if count:
            words.append(f"{count} {name}{'s' if count != 1 else ''}")
    return " ".join(words) or "0 seconds"
