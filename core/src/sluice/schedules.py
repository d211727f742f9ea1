"""Schedules: the whole contract of a schedule plugin, and building a schedule from its JSON form.

A plugin that adds a schedule type (``register_schedules``) imports from here only:

- ``Schedule``, the base: a pydantic model with a ``type`` discriminator, ``get_dates`` and
  ``describe``; it may declare command-line ``shorthands`` (``Shorthand``: ``--every 15m`` for its
  ``every`` field) and an ``untyped_key`` (the key that identifies its form without a ``type``, as
  Prefect 2 writes schedules);
- the wall-clock helpers ``wall_clock_dates``, ``resolve_local_time``, ``is_first_occurrence`` and
  ``get_timezone``; ``timedelta_words`` for ``describe``;
- the budget helpers ``scanner``, ``note_scanned``, ``current_budget`` and their errors
  (``ScheduleBudgetExceeded``, ``DatesOutOfRange``, ``ConfigurationError``);
- ``schedule_from_dict``, ``schedule_types`` and ``format_validation_error``.

    >>> schedule_from_dict({"type": "weekdays", "at": "09:00", "timezone": "Europe/London"})

One DST rule applies to every schedule that works in local wall-clock time (RFC 5545's): a local
time inside a spring-forward gap fires at the same offset after the gap (02:30 becomes 03:30 that
day only), and a local time that occurs twice on a fall-back night fires once, at its first
occurrence. ``resolve_local_time`` implements it for plugins.

Every ``get_dates`` call runs under a budget (``sluice.schedule_budget``): a schedule whose dates
take too many candidate times or too long to find raises ``ScheduleBudgetExceeded``, and one whose
dates leave the years 1–9999 raises ``DatesOutOfRange`` — both ``ConfigurationError``s, so the API
answers 422. ``check_next_dates`` is the check a server makes before storing a schedule.
"""

from __future__ import annotations

import functools
import heapq
import re
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator

from sluice.errors import ConfigurationError
from sluice.schedule_budget import Computation as _Computation
from sluice.schedule_budget import ScheduleBudgetExceeded, current_budget, note_scanned, scanner

__all__ = [
    "CHECKED_DATES",
    "ConfigurationError",
    "DatesOutOfRange",
    "Schedule",
    "ScheduleBudgetExceeded",
    "Shorthand",
    "check_declarations",
    "check_next_dates",
    "current_budget",
    "format_validation_error",
    "get_timezone",
    "is_first_occurrence",
    "note_scanned",
    "resolve_local_time",
    "scanner",
    "schedule_from_dict",
    "schedule_types",
    "timedelta_words",
    "typed_schedule_data",
    "wall_clock_dates",
]

#: How many next dates ``check_next_dates`` asks for (the check a server makes before storing a schedule).
CHECKED_DATES = 10


class DatesOutOfRange(ConfigurationError):
    """A schedule's dates (or a date given to it) fall outside the years 1–9999 a datetime can hold."""


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


#: The value types a shorthand option may take.
_SHORTHAND_TYPES: tuple[type, ...] = (str, int, float)
#: Options the CLI keeps for itself: a shorthand may not take them.
_RESERVED_OPTIONS = frozenset({"--schedule", "--timezone", "--help"})
_OPTION_NAME = re.compile(r"^--[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Shorthand:
    """A command-line option that gives a schedule of one type by one of its fields.

    ``Shorthand("--every", field="every", type=str, help="Run every DURATION, e.g. '15m'.")`` on a
    schedule type ``pulse`` makes ``sluice deployment build ... --every 15m`` mean the schedule
    ``{"type": "pulse", "every": "15m"}`` (``--timezone`` adds its time zone). ``build`` and
    ``set-schedule`` offer every installed type's shorthands; an option another type (or the command
    itself) already uses is left out, with a warning.
    """

    #: The option, ``--`` and lowercase words joined by ``-``: ``--every``.
    option: str
    #: The schedule field its value fills.
    field: str
    #: ``str``, ``int`` or ``float``: what the command line accepts (the schedule still validates it).
    type: type = str
    #: One line for ``--help``.
    help: str = ""


def check_declarations(cls: type[Schedule]) -> None:
    """Raise ``ValueError`` when ``cls.shorthands`` or ``cls.untyped_key`` are not well formed: what
    registration checks (call it in a plugin's tests). A shorthand's option is ``--`` and lowercase
    words joined by ``-``, not ``--schedule``, ``--timezone`` or ``--help``; it fills a field of the
    type and its value type is ``str``, ``int`` or ``float``; the untyped key is a field of the type."""
    fields = set(cls.model_fields) - {"type"}
    shorthands = cls.shorthands
    if not isinstance(shorthands, tuple | list):
        raise ValueError(f"{cls.__qualname__}.shorthands must be a tuple of sluice.schedules.Shorthand")
    for shorthand in shorthands:
        if not isinstance(shorthand, Shorthand):
            raise ValueError(f"{cls.__qualname__}.shorthands holds {shorthand!r}, not a sluice.schedules.Shorthand")
        if not isinstance(shorthand.option, str) or not _OPTION_NAME.match(shorthand.option):
            raise ValueError(f"shorthand option {shorthand.option!r} must look like '--word' or '--two-words'")
        if shorthand.option in _RESERVED_OPTIONS:
            raise ValueError(f"shorthand option {shorthand.option} is the CLI's own")
        if shorthand.field not in fields:
            raise ValueError(
                f"shorthand {shorthand.option} fills {shorthand.field!r}, which is not a field of the type"
            )
        if shorthand.type not in _SHORTHAND_TYPES:
            raise ValueError(f"shorthand {shorthand.option} has type {shorthand.type!r}: use str, int or float")
    key = cls.untyped_key
    if key is not None and key not in fields:
        raise ValueError(f"{cls.__qualname__}.untyped_key {key!r} is not a field of the type")


class Schedule(BaseModel):
    """Base of every schedule type.

    Subclasses declare ``type: Literal["<slug>"] = "<slug>"`` (the discriminator saved in JSON) and
    implement ``get_dates`` and ``describe``. Invalid specs must be rejected at construction with a
    ``ValueError`` quoting the bad part.

    Every subclass's ``get_dates`` is wrapped so that it runs under the schedule budget: past it, it
    raises ``ScheduleBudgetExceeded`` naming the schedule and ``budget_advice()``; an
    ``OverflowError`` (a date past the year 9999) becomes ``DatesOutOfRange``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Whether the schedule's times are in local wall-clock time (most are; exact elapsed time is not).
    wall_clock: ClassVar[bool] = True
    #: Command-line options that give a schedule of this type by one field (see ``Shorthand``).
    shorthands: ClassVar[tuple[Shorthand, ...]] = ()
    #: The field whose key identifies this type's form when it comes without a ``type``: Prefect 2
    #: writes ``{cron: "0 9 * * *"}``. None: the type is always given.
    untyped_key: ClassVar[str | None] = None

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

    def budget_advice(self) -> str:
        """How to make this schedule's dates cheaper to find; ends the budget error's message.

        Override it to name what makes your type costly (the rrule type names COUNT and FREQ).
        """
        return "choose a schedule whose next times come sooner or are simpler to find"

    def error_subject(self) -> str:
        """The schedule as error messages name it: its type and its JSON, on one line."""
        return f"the {self.type} schedule {self.model_dump_json(exclude={'type'}, exclude_defaults=True)}"

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Put the subclass's own ``get_dates`` under the schedule budget."""
        super().__pydantic_init_subclass__(**kwargs)
        own = cls.__dict__.get("get_dates")
        if own is not None and not getattr(own, "_sluice_budgeted", False):
            cls.get_dates = _budgeted(own)  # type: ignore[method-assign]

    # helpers for subclasses -----------------------------------------------------------------

    def _bounds(self, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime | None]:
        """``start`` (default now) and ``end`` as aware datetimes in the schedule's zone."""
        zone = self.zone
        start = datetime.now(UTC) if start is None else _aware(start)
        return _in_zone(start, zone), (None if end is None else _in_zone(_aware(end), zone))


def _budgeted(get_dates: Callable[..., list[datetime]]) -> Callable[..., list[datetime]]:
    """``get_dates`` as one budgeted computation (or part of the running one), with its errors named."""

    @functools.wraps(get_dates)
    def budgeted(self: Schedule, *args: Any, **kwargs: Any) -> list[datetime]:
        try:
            return _Computation().run(get_dates, self, *args, **kwargs)
        except ScheduleBudgetExceeded as exc:
            raise exc.about(self.error_subject(), self.budget_advice()) from None
        except OverflowError:
            raise DatesOutOfRange(
                f"{self.error_subject()} gives dates outside the years 1-9999, which cannot be represented; "
                "check its dates, anchor and bounds"
            ) from None

    budgeted._sluice_budgeted = True  # type: ignore[attr-defined]
    return budgeted


def check_next_dates(schedule: Schedule, now: datetime | None = None) -> list[datetime]:
    """The schedule's next ``CHECKED_DATES`` dates from ``now``, found within the budget.

    What a server checks before it stores a schedule: one whose next dates cannot be found within
    the budget raises ``ScheduleBudgetExceeded`` (its message says why and what to change), one
    whose dates leave the representable range ``DatesOutOfRange``. A schedule with no date left
    passes (it creates no run).
    """
    return schedule.get_dates(CHECKED_DATES, now)


def _aware(value: datetime) -> datetime:
    """Treat a naive datetime as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _in_zone(value: datetime, zone: tzinfo) -> datetime:
    """``value`` in ``zone``, or in UTC when its reading in ``zone`` would leave the years 1-9999
    (9999-12-31 23:00 UTC is already the year 10000 in UTC+14): the same instant either way."""
    try:
        return value.astimezone(zone)
    except OverflowError:
        return value.astimezone(UTC)


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

    Every candidate counts against the schedule budget (``note_scanned``). Candidates stop at the
    end of the representable range: an ``OverflowError`` from the stream, or a time that cannot be
    expressed in ``zone``, ends the results there.
    """
    if n <= 0:
        return []
    start_utc = start.astimezone(UTC)
    end_utc = None if end is None else end.astimezone(UTC)
    if end_utc is not None and end_utc < start_utc:
        return []
    # Begin early enough that a gap time before ``start`` that resolves after it is still seen.
    earliest_offset = min(
        _offset_at_instant(start_utc, zone), _offset_at_instant(_shifted(start_utc, -_OFFSET_WINDOW), zone)
    )
    naive_from = _shifted(start_utc, earliest_offset).replace(tzinfo=None)
    scanned = scanner()

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
                try:
                    results.append(_to_zone(instant, zone))
                except OverflowError:  # past the year 9999 in ``zone``: nothing later exists either
                    return True
                last_emitted = instant
                if len(results) >= n:
                    return True
        return False

    try:
        for candidate in candidates_from(naive_from):
            scanned(1)
            if candidate.tzinfo is None:
                naive = candidate
                # fold=0 reads a gap time with the offset before the gap and a repeated time as its
                # first occurrence: RFC 5545's rule (see ``resolve_local_time``).
                offset = _offset_at_wall(candidate, zone)
                instant = naive - offset
            else:
                instant = candidate.astimezone(UTC).replace(tzinfo=None)
                local = candidate.astimezone(zone)
                offset = local.utcoffset() or _ZERO
                naive = local.replace(tzinfo=None)
            if naive >= bound_valid_until:
                # The largest offset in force over the next few days (at most one change in between).
                largest_offset = max(offset, _offset_at_wall(_shifted(naive, _OFFSET_WINDOW), zone))
                bound_valid_until = _shifted(naive, _BOUND_REUSE)
            # No candidate from here on can resolve to an instant before this one.
            lower_bound = naive - largest_offset
            if pending and pending[0] <= lower_bound and emit_until(lower_bound):
                return results
            if end_at is not None and lower_bound > end_at:
                break
            if instant >= start_at:
                heapq.heappush(pending, instant)
    except OverflowError:
        pass  # the candidates reached the end of the representable range: no later time exists
    emit_until(None)
    return results


def _shifted(value: datetime, delta: timedelta) -> datetime:
    """``value + delta``, held at the first or last representable moment instead of overflowing."""
    try:
        return value + delta
    except OverflowError:
        extreme = datetime.max if delta > _ZERO else datetime.min
        return extreme.replace(tzinfo=value.tzinfo)


def _to_zone(instant: datetime, zone: tzinfo) -> datetime:
    """A naive UTC instant as an aware datetime in ``zone``."""
    if instant.microsecond:  # a float timestamp could round sub-second parts far from 1970
        return instant.replace(tzinfo=UTC).astimezone(zone)
    return datetime.fromtimestamp((instant - _EPOCH) // _SECOND, zone)


def _offset_at_instant(instant: datetime, zone: tzinfo) -> timedelta:
    try:
        return instant.astimezone(zone).utcoffset() or _ZERO
    except OverflowError:  # within a day of the year 1 or 9999: the zone's reading does not exist
        return _ZERO


def _offset_at_wall(naive: datetime, zone: tzinfo) -> timedelta:
    # A tzinfo reads a datetime's wall-clock fields and fold; handing it the naive value is the same
    # as attaching the zone first, and cheaper.
    return zone.utcoffset(naive) or timedelta(0)


def schedule_types() -> dict[str, type[Schedule]]:
    """Every installed schedule type by slug (a slug two plugins claim is left out)."""
    from sluice.plugins import get_registry

    return {entry.slug: entry.cls for entry in get_registry("schedule").entries()}


def typed_schedule_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with its ``type``: given, or found from the installed type whose ``untyped_key`` it holds.

    Prefect 2 writes ``{cron: "0 9 * * *", timezone: ...}`` without a type; the type that declares the
    key ``cron`` as its ``untyped_key`` reads it. Data that holds no such key is returned as it is (and
    ``schedule_from_dict`` says it needs a type); one that holds the keys of two types raises
    ``ConfigurationError``.
    """
    result = dict(data)
    if "type" in result:
        return result
    matches = sorted(slug for slug, cls in schedule_types().items() if cls.untyped_key and cls.untyped_key in result)
    if len(matches) > 1:
        raise ConfigurationError(
            f"a schedule without a 'type' may be {' or '.join(matches)}: give its type, e.g. 'type: {matches[0]}'"
        )
    return {"type": matches[0], **result} if matches else result


def schedule_from_dict(data: dict[str, Any]) -> Schedule:
    """Build the registered schedule type named by ``data["type"]`` from its JSON form.

    An unknown type says which kind is missing and what is installed; an invalid spec raises
    ``ConfigurationError`` with pydantic's message, which quotes the bad part. A validator that
    computes dates may raise ``ScheduleBudgetExceeded``, which is raised as it is; a date outside the
    years 1-9999 raises ``DatesOutOfRange``.
    """
    from pydantic import ValidationError

    from sluice.plugins import get_registry

    if not isinstance(data, dict) or "type" not in data:
        installed = ", ".join(sorted(schedule_types())) or "none; see `sluice plugins ls`"
        raise ConfigurationError(
            f"a schedule needs a 'type' naming its schedule type (installed: {installed}), "
            "e.g. {'type': '<type>', '<field>': '<value>'}"
        )
    cls = get_registry("schedule").get(str(data["type"]))
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, ScheduleBudgetExceeded):
                raise cause from None
        raise ConfigurationError(f"invalid {data['type']} schedule: {format_validation_error(exc)}") from None
    except OverflowError:  # arithmetic in a validator went past the year 9999 (or before the year 1)
        raise DatesOutOfRange(
            f"invalid {data['type']} schedule: one of its dates falls outside the years 1-9999, "
            "which cannot be represented"
        ) from None


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
