"""Expand a parsed recurrence into naive local wall-clock times, ascending."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

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
    times: Iterator[datetime] = expander.xafter(after, inc=True)
    if rule.until is None:
        yield from times
        return
    zone = recurrence.zone
    stop_after = local_wall_time(rule.until, zone) + UNTIL_SLACK
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
