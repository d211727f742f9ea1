"""Parse an RFC 5545 recurrence (RRULE with optional DTSTART, RDATE and EXDATE lines).

Everything is turned into naive local wall-clock times in the schedule's time zone, so that one DST
rule (``sluice.schedules.resolve_local_time``) decides what a time in a gap or a repeated hour means.
The rules themselves are expanded by python-dateutil, without their UNTIL: UNTIL is an instant, and
is applied after resolution so that a fall-back night is cut at the right one of its two 01:30s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, tzinfo
from functools import lru_cache
from typing import Any

from sluice.schedules import get_timezone, resolve_local_time

#: DTSTART when the text has none, as in Prefect 2: midnight of 2020-01-01, local time.
DEFAULT_DTSTART = datetime(2020, 1, 1)

SUPPORTED_PROPERTIES = ("DTSTART", "RRULE", "RDATE", "EXDATE")
MAX_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

_DATE_TIME = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")
_PROPERTY_LINE = re.compile(r"^[A-Za-z-]+[;:]")


class RRuleError(ValueError):
    """An RRULE text that cannot be parsed or can never fire."""


@dataclass(frozen=True)
class RecurrenceRule:
    """One RRULE line: its parameters (upper-case names) and the dateutil rule expanding it."""

    text: str
    params: dict[str, str]
    rule: Any  # dateutil.rrule.rrule, naive, without UNTIL
    until: datetime | None  # an aware instant


@dataclass(frozen=True)
class Recurrence:
    """A parsed recurrence: every time is naive local wall-clock time in ``zone`` unless aware."""

    zone_name: str
    dtstart: datetime
    has_dtstart: bool
    rules: tuple[RecurrenceRule, ...]
    rdates: tuple[datetime, ...]
    exdates: frozenset[datetime]  # UTC instants

    @property
    def zone(self) -> tzinfo:
        """The time zone the recurrence is expanded in."""
        return get_timezone(self.zone_name)


@lru_cache(maxsize=256)
def parse_recurrence(text: str, timezone: str | None) -> Recurrence:
    """Parse ``text``; raise ``RRuleError`` quoting the bad part."""
    lines = _lines(text)
    if not lines:
        raise RRuleError("empty rrule: expected e.g. 'FREQ=WEEKLY;BYDAY=MO;BYHOUR=9'")
    properties = [_split_property(line) for line in lines]
    dtstart_lines = [prop for prop in properties if prop[0] == "DTSTART"]
    if len(dtstart_lines) > 1:
        raise RRuleError(f"rrule {text!r} has {len(dtstart_lines)} DTSTART lines; give at most one")

    zone_name = timezone or "UTC"
    if timezone is None and dtstart_lines:
        _, params, value = dtstart_lines[0]
        if "TZID" in params:
            zone_name = params["TZID"]
            _zone_for(zone_name, f"DTSTART;TZID={zone_name}")
    zone = get_timezone(zone_name)

    dtstart = DEFAULT_DTSTART
    if dtstart_lines:
        _, params, value = dtstart_lines[0]
        dtstart = local_wall_time(_representable(_parse_value(value, params, zone, "DTSTART"), zone, value), zone)

    rules: list[RecurrenceRule] = []
    rdates: list[datetime] = []
    exdates: set[datetime] = set()
    for name, params, value in properties:
        if name == "RRULE":
            rules.append(_parse_rule(value, dtstart, zone))
        elif name == "RDATE":
            if params.get("VALUE", "").upper() == "PERIOD":
                raise RRuleError(f"RDATE periods are not supported: {value!r}; list date-times instead")
            rdates.extend(
                _representable(_parse_value(item, params, zone, "RDATE"), zone, item) for item in value.split(",")
            )
        elif name == "EXDATE":
            for item in value.split(","):
                moment = _representable(_parse_value(item, params, zone, "EXDATE"), zone, item)
                exdates.add(instant_of(moment, zone))
    if not rules and not rdates:
        raise RRuleError(f"rrule {text!r} has no RRULE or RDATE line, so it never fires")
    rdates.sort(key=lambda moment: local_wall_time(moment, zone))
    return Recurrence(zone_name, dtstart, bool(dtstart_lines), tuple(rules), tuple(rdates), frozenset(exdates))


def _lines(text: str) -> list[str]:
    """The content lines, unfolded (RFC 5545 continues a line with a leading space)."""
    if not isinstance(text, str):
        raise RRuleError(f"an rrule must be a string, got {type(text).__name__}")
    unfolded: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += raw[1:]
        elif raw.strip():
            unfolded.append(raw.strip())
    if len(unfolded) == 1 and not _PROPERTY_LINE.match(unfolded[0]):
        unfolded[0] = "RRULE:" + unfolded[0]  # a bare rule: "FREQ=DAILY;BYHOUR=9"
    return unfolded


def _split_property(line: str) -> tuple[str, dict[str, str], str]:
    """``DTSTART;TZID=Europe/London:20260101T090000`` → ("DTSTART", {"TZID": ...}, "2026…")."""
    head, colon, value = line.partition(":")
    if not colon:
        raise RRuleError(f"invalid rrule line {line!r}: expected NAME:VALUE, e.g. 'RRULE:FREQ=DAILY'")
    name, *param_items = head.split(";")
    name = name.upper()
    if name not in SUPPORTED_PROPERTIES:
        raise RRuleError(f"unsupported rrule property {name!r} in {line!r}: use {', '.join(SUPPORTED_PROPERTIES)}")
    params = {}
    for item in param_items:
        key, equals, param_value = item.partition("=")
        if not equals:
            raise RRuleError(f"invalid parameter {item!r} in {line!r}: expected NAME=VALUE")
        params[key.upper()] = param_value.strip('"')
    return name, params, value.strip()


def _zone_for(name: str, where: str) -> tzinfo:
    try:
        return get_timezone(name)
    except ValueError as exc:
        raise RRuleError(f"{exc} (in {where})") from None


def _parse_value(value: str, params: dict[str, str], zone: tzinfo, where: str) -> datetime:
    """A DATE or DATE-TIME: naive local in ``zone``, or aware when it names another zone or UTC."""
    match = _DATE_TIME.match(value.strip())
    if not match:
        raise RRuleError(f"invalid {where} value {value!r}: expected YYYYMMDD or YYYYMMDDTHHMMSS[Z]")
    day_text, time_text, utc = match.groups()
    try:
        day = datetime.strptime(day_text, "%Y%m%d").date()
        clock = datetime.strptime(time_text, "%H%M%S").time() if time_text else time()
    except ValueError:
        raise RRuleError(f"invalid {where} value {value!r}: not a real date or time") from None
    naive = datetime.combine(day, clock)
    if utc:
        return naive.replace(tzinfo=UTC)
    tzid = params.get("TZID")
    if tzid is not None:
        named_zone = _zone_for(tzid, f"{where};TZID={tzid}")
        if named_zone != zone:
            return resolve_local_time(naive, named_zone)
    return naive


def _representable(moment: datetime, zone: tzinfo, text: str) -> datetime:
    """``moment``, refused when its instant or its local time in ``zone`` leaves the years 1-9999."""
    try:
        instant_of(moment, zone)
        local_wall_time(moment, zone)
    except OverflowError:
        where = "UTC" if str(zone) == "UTC" else f"UTC or in {zone}"
        raise RRuleError(
            f"the date {text!r} falls outside the years 1-9999 once read in {where}, which cannot be represented"
        ) from None
    return moment


def local_wall_time(moment: datetime, zone: tzinfo) -> datetime:
    """Naive local wall-clock time in ``zone``."""
    return moment if moment.tzinfo is None else moment.astimezone(zone).replace(tzinfo=None)


def instant_of(moment: datetime, zone: tzinfo) -> datetime:
    """The UTC instant a naive local (resolved by the DST rule) or aware time names."""
    aware = resolve_local_time(moment, zone) if moment.tzinfo is None else moment
    return aware.astimezone(UTC)


def _parse_rule(value: str, dtstart: datetime, zone: tzinfo) -> RecurrenceRule:
    """One RRULE value, expanded by dateutil from the naive ``dtstart``, UNTIL kept apart."""
    from dateutil.rrule import rrulestr

    params: dict[str, str] = {}
    kept: list[str] = []
    for part in value.split(";"):
        if not part:
            continue
        key, equals, part_value = part.partition("=")
        if not equals or not part_value:
            raise RRuleError(f"invalid RRULE part {part!r} in {value!r}: expected NAME=VALUE")
        key = key.upper()
        if key in params:
            raise RRuleError(f"RRULE {value!r} gives {key} twice")
        params[key] = part_value.upper()
        if key != "UNTIL":
            kept.append(f"{key}={part_value.upper()}")
    if "FREQ" not in params:
        raise RRuleError(f"RRULE {value!r} has no FREQ: add e.g. FREQ=DAILY")
    if "COUNT" in params and "UNTIL" in params:
        raise RRuleError(f"RRULE {value!r} gives both COUNT and UNTIL; RFC 5545 allows one of them")
    if params.get("COUNT", "1").isdigit() and int(params.get("COUNT", "1")) == 0:
        raise RRuleError(f"RRULE {value!r} has COUNT=0, so it never fires")
    until = None
    if "UNTIL" in params:
        until = _parse_until(params["UNTIL"], zone, value)  # None: after every representable time
    try:
        rule = rrulestr("RRULE:" + ";".join(kept), dtstart=dtstart)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise RRuleError(f"invalid RRULE {value!r}: {exc}") from None
    _check_month_days(params, value)
    return RecurrenceRule(value, params, rule, until)


def _parse_until(text: str, zone: tzinfo, rule_text: str) -> datetime | None:
    """UNTIL as an instant: UTC with Z, local wall time without; a bare date includes its whole day.

    None when that instant is past the last representable one (UNTIL=99991231 in a zone west of
    UTC): no time the rule can give is after it.
    """
    moment = _parse_value(text, {}, zone, f"UNTIL in RRULE {rule_text!r}")
    if "T" not in text:
        moment = datetime.combine(moment.date(), time.max)
    try:
        return instant_of(moment, zone)
    except OverflowError:
        if moment.year == datetime.max.year:
            return None
        raise


def _check_month_days(params: dict[str, str], rule_text: str) -> None:
    """Reject BYMONTHDAY values that no BYMONTH month has, e.g. BYMONTH=2;BYMONTHDAY=30."""
    if "BYMONTHDAY" not in params:
        return
    days = [int(day) for day in params["BYMONTHDAY"].split(",")]
    months = [int(month) for month in params["BYMONTH"].split(",")] if "BYMONTH" in params else range(1, 13)
    for month in months:
        if any(abs(day) <= MAX_DAYS_IN_MONTH[month - 1] for day in days):
            return
    raise RRuleError(
        f"RRULE {rule_text!r} can never fire: BYMONTHDAY={params['BYMONTHDAY']} does not occur in "
        f"BYMONTH={params.get('BYMONTH')}"
    )
