"""Expand a parsed recurrence into naive local wall-clock times, ascending."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sluice.schedules import scanner
from sluice_rrule.parser import Recurrence, RecurrenceRule, instant_of, local_wall_time

# Frequencies whose periods have a fixed length in wall-clock time, so a rule without COUNT can
# start a whole number of periods later and produce the same times. Monthly and yearly rules are
# cheap to expand from their DTSTART anyway.
FIXED_PERIODS: dict[str, timedelta] = {
    "SECONDLY": timedelta(seconds=1),
    "MINUTELY": timedelta(minutes=1),
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(weeks=1),
}

# A time resolved by the DST rule is at most this far from its wall-clock time's UTC reading, so
# a rule stream may stop once its wall-clock times are this far past UNTIL.
UNTIL_SLACK = timedelta(days=2)


def iter_wall_times(recurrence: Recurrence, after: datetime) -> Iterator[datetime]:
    """The recurrence's times from about ``after`` (naive local) on, ascending.

    Rule times and local RDATEs are naive; an RDATE in another zone is aware. EXDATE instants are
    left out here; UNTIL is applied per rule, to the resolved instant.
    """
    zone = recurrence.zone
    streams: list[Iterator[datetime]] = [_rule_times(rule, recurrence, after) for rule in recurrence.rules]
    if recurrence.rdates:
        streams.append(iter(recurrence.rdates))
    merged: Iterator[datetime]
    if len(streams) == 1:
        merged = streams[0]
    else:
        merged = heapq.merge(*streams, key=lambda moment: local_wall_time(moment, zone))
    if not recurrence.exdates:
        yield from merged
        return
    for moment in merged:
        if instant_of(moment, zone) not in recurrence.exdates:
            yield moment


def _rule_times(rule: RecurrenceRule, recurrence: Recurrence, after: datetime) -> Iterator[datetime]:
    expander = _fast_forward(rule, recurrence.dtstart, after)
    times: Iterator[datetime] = _repeat_tile(rule, expander, after)
    if rule.until is None:
        yield from times
        return
    zone = recurrence.zone
    try:
        stop_after = local_wall_time(rule.until, zone) + UNTIL_SLACK
    except OverflowError:  # UNTIL is within a few days of the year 10000 here: never stop early
        stop_after = datetime.max
    for moment in times:
        if instant_of(moment, zone) <= rule.until:
            yield moment
        elif moment > stop_after:
            return


def _fast_forward(rule: RecurrenceRule, dtstart: datetime, after: datetime) -> Any:
    """The dateutil rule, started a whole number of periods closer to ``after`` when that is exact.

    Expanding a minutely rule from a DTSTART years back would take seconds; moving DTSTART by whole
    periods gives the same times (COUNT excepted, which counts from the real DTSTART).
    """
    period = FIXED_PERIODS.get(rule.params["FREQ"])
    if period is None or "COUNT" in rule.params:
        return rule.rule
    period *= int(rule.params.get("INTERVAL", "1"))
    periods_to_skip = (after - dtstart) // period - 1
    if periods_to_skip <= 0:
        return rule.rule
    return rule.rule.replace(dtstart=dtstart + periods_to_skip * period)


# Rule parts that keep a fixed-period rule periodic: whatever they select in one tile (below) they
# select again, shifted, in the next.
TILE_SAFE_PARTS = frozenset(
    {"FREQ", "INTERVAL", "BYDAY", "BYHOUR", "BYMINUTE", "BYSECOND", "WKST", "BYSETPOS", "UNTIL"}
)
# A tile with more times than this is not worth collecting; dateutil expands the rule instead.
MAX_TILE_TIMES = 2000


def tile_length(rule: RecurrenceRule) -> timedelta | None:
    """The shortest span after which the rule's times repeat exactly, or None when they need not.

    A rule of fixed-length periods whose filters depend only on the weekday and the time of day
    repeats after the least common multiple of its step (period × INTERVAL) and the span of its
    finest filter (a week for BYDAY, a day for BYHOUR, an hour for BYMINUTE, a minute for BYSECOND).
    """
    params = rule.params
    period = FIXED_PERIODS.get(params["FREQ"])
    if period is None or "COUNT" in params or not set(params) <= TILE_SAFE_PARTS:
        return None
    if any(not day.isalpha() for day in params.get("BYDAY", "").split(",") if day):
        return None  # ordinal weekdays (1MO) only mean something in monthly and yearly rules
    step = int(period.total_seconds()) * int(params.get("INTERVAL", "1"))
    if "BYDAY" in params:
        span = 7 * 86400
    elif "BYHOUR" in params:
        span = 86400
    elif "BYMINUTE" in params:
        span = 3600
    elif "BYSECOND" in params:
        span = 60
    else:
        span = 1
    return timedelta(seconds=math.lcm(step, span))


def _repeat_tile(rule: RecurrenceRule, expander: Any, after: datetime) -> Iterator[datetime]:
    """The rule's times from ``after`` on: one tile from dateutil, then the same tile shifted.

    Shifting a list of datetimes is several times faster than letting dateutil rebuild each period.
    """
    times = _times_from(expander, after)
    tile = tile_length(rule)
    if tile is None:
        return times
    return _shifted_tiles(times, tile)


def _times_from(expander: Any, after: datetime) -> Iterator[datetime]:
    """The dateutil rule's times at or after ``after``.

    Like ``xafter``, but every time skipped on the way counts against the schedule budget: a rule
    with COUNT is expanded from its DTSTART, however far back that is.
    """
    scanned = scanner()
    times = iter(expander)
    for moment in times:
        if moment >= after:
            yield moment
            break
        scanned(1)
    yield from times


def _shifted_tiles(times: Iterator[datetime], tile: timedelta) -> Iterator[datetime]:
    base: list[datetime] = []
    for moment in times:
        if base and moment >= base[0] + tile:
            break
        base.append(moment)
        if len(base) > MAX_TILE_TIMES:
            yield from base
            yield from times
            return
    else:
        yield from base  # a finite rule (UNTIL is applied later) shorter than a tile
        return
    shift = timedelta(0)
    try:
        while True:
            for moment in base:
                yield moment + shift
            shift += tile
    except OverflowError:
        return
