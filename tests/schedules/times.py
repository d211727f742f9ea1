"""Assertions on fire times: the UTC instant and the local wall-clock time of each, compared separately.

Two times of a fall-back night (01:30 EDT and 01:30 EST) compare *equal* as datetimes in the same
zone, so a plain ``==`` on lists of aware datetimes cannot tell them apart; these helpers compare
the instants, the wall times and the offsets on their own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

NEW_YORK = "America/New_York"
LONDON = "Europe/London"


def at(text: str) -> datetime:
    """An aware datetime from ISO text with an offset, e.g. ``at("2026-03-08T03:30-04:00")``."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, f"{text!r} needs an offset"
    return value


def assert_fire_times(got: list[datetime], expected: list[str], zone: str) -> None:
    """``got`` are exactly the ``expected`` times (ISO with offsets), in ``zone``, in order."""
    wanted = [at(text) for text in expected]
    assert [moment.astimezone(UTC) for moment in got] == [moment.astimezone(UTC) for moment in wanted]
    assert [moment.replace(tzinfo=None) for moment in got] == [moment.replace(tzinfo=None) for moment in wanted]
    assert [moment.utcoffset() for moment in got] == [moment.utcoffset() for moment in wanted]
    assert all(moment.tzinfo == ZoneInfo(zone) for moment in got), [moment.tzinfo for moment in got]


def assert_sorted_distinct(got: list[datetime]) -> None:
    """Strictly increasing UTC instants: sorted, no duplicates."""
    instants = [moment.astimezone(UTC) for moment in got]
    assert all(earlier < later for earlier, later in pairwise(instants)), instants
