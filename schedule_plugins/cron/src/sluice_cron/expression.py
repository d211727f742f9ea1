"""A cron expression read by croniter, with Sluice's checks on top and errors that quote the bad part.

croniter decides what an expression means: lists, ranges, steps, month and weekday names, ``?``,
``L`` (the last day of the month), ``15W`` (the weekday nearest the 15th), ``5#2`` (the second
Friday), ``L5`` (the last Friday) and the macros ``@hourly`` … ``@yearly``. This module refuses, with
a message naming the field, what croniter would refuse or read surprisingly:

- anything but five fields (croniter's optional seconds and year fields are not supported);
- a range whose start is after its end (croniter wraps ``30-10`` round the hour) or equal to it
  (croniter reads ``5-5`` as the whole field);
- hashed and random values (``H``, ``R``), which depend on a seed, as Prefect 2 does.

croniter is imported inside the functions that use it: it takes tens of milliseconds to import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
#: The values each field accepts; 7 is Sunday as well as 0.
FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: The macros croniter knows.
MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
#: The longest expression read: real ones are far shorter, and a hostile one must not cost seconds.
MAX_LENGTH = 500
#: The ``n`` of an nth-weekday pair for the last such weekday of the month (``L5``).
LAST = -1

DAY_OF_MONTH, DAY_OF_WEEK = 2, 4
_HASHED = re.compile(r"^[hr](\(|/|$)", re.IGNORECASE)
_NEAREST_WEEKDAY = re.compile(r"^(?:(\d+)w|w(\d+))$", re.IGNORECASE)
# croniter's start for reading and trying expressions: any fixed naive time does.
_REFERENCE = datetime(2000, 1, 1)


class CronError(ValueError):
    """A cron expression that cannot be read or can never fire."""


@dataclass(frozen=True)
class CronFields:
    """What an expression allows, as croniter expanded it.

    ``fields`` are the five fields as written (macros expanded, lower case). The value tuples are
    sorted and complete (``*`` lists every value); ``weekdays`` counts from Sunday = 0. The special
    day forms are held apart: ``L`` in ``last_day_of_month``, ``15W`` in ``nearest_weekday``, and
    ``5#2`` / ``L5`` in ``nth_weekdays`` as (weekday, n) pairs with ``LAST`` for ``L``.
    """

    expression: str
    fields: tuple[str, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]
    last_day_of_month: bool
    nearest_weekday: int | None
    nth_weekdays: tuple[tuple[int, int], ...]

    @property
    def day_expression(self) -> str:
        """The expression's day part at midnight, which croniter walks day by day."""
        return " ".join(("0", "0", *self.fields[2:]))

    @property
    def any_day_of_month(self) -> bool:
        """True when the day-of-month field allows every day (``*`` or ``?``)."""
        return self.fields[DAY_OF_MONTH] in ("*", "?")

    @property
    def any_day_of_week(self) -> bool:
        """True when the day-of-week field allows every day (``*`` or ``?``)."""
        return self.fields[DAY_OF_WEEK] in ("*", "?")

    @property
    def has_special_day(self) -> bool:
        """True with ``W``, ``#`` or ``L<weekday>``, which croniter keeps outside the day fields."""
        return self.nearest_weekday is not None or bool(self.nth_weekdays)


def croniter_options(day_or: bool) -> dict[str, Any]:
    """The croniter options every Sluice walk uses.

    ``implement_cron_bug`` makes a day field beginning with ``*`` (such as ``*/2``) combine with
    the other one by AND even under ``day_or``, as Vixie cron does.
    """
    return {"day_or": day_or, "implement_cron_bug": True}


@lru_cache(maxsize=512)
def parse_cron(expression: str) -> CronFields:
    """Read ``expression`` with croniter; raise ``CronError`` quoting the bad part."""
    if not isinstance(expression, str) or not expression.strip():
        raise CronError("empty cron expression: expected 5 fields such as '0 9 * * *' or a macro such as '@daily'")
    if len(expression) > MAX_LENGTH:
        raise CronError(
            f"cron expression {expression[:40]!r}… is {len(expression)} characters long: at most {MAX_LENGTH}"
        )
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise CronError(f"unknown cron macro {text!r}: use one of {', '.join(sorted(MACROS))}")
    else:
        parts = text.split(" ")
        if len(parts) != 5:
            raise CronError(
                f"invalid cron expression {expression!r}: expected 5 fields "
                f"(minute hour day-of-month month day-of-week), got {len(parts)}"
            )
        for index, part in enumerate(parts):
            _check_field(part, index, expression)
    reader = _read(text)
    if reader is None:
        raise _explain(text.split(" "), expression)
    return _fields_of(expression, reader)


def check_day_fields(fields: CronFields, day_or: bool) -> None:
    """Refuse day fields that croniter would combine wrongly.

    With ``day_or``, two restricted day fields mean "either"; croniter computes that for plain
    values and ``L``, but with ``W``, ``#`` or ``L<weekday>`` it keeps only one side or none.
    """
    if not day_or or not fields.has_special_day or fields.any_day_of_month or fields.any_day_of_week:
        return
    day_field, weekday_field = fields.fields[DAY_OF_MONTH], fields.fields[DAY_OF_WEEK]
    if day_field.startswith("*") or weekday_field.startswith("*"):
        return  # a starred field combines by AND (Vixie cron), which croniter computes
    raise CronError(
        f"cron expression {fields.expression!r} cannot combine day-of-month {day_field!r} with "
        f"day-of-week {weekday_field!r} by OR when either uses W, # or L<weekday>: put '?' in one "
        "of the two fields, or set day_or to false to require both"
    )


@lru_cache(maxsize=512)
def check_can_fire(fields: CronFields, day_or: bool) -> None:
    """Raise ``CronError`` when no date can ever match, such as ``0 0 30 2 *`` (30 February)."""
    from croniter import CroniterError, croniter

    try:
        croniter(fields.day_expression, _REFERENCE, **croniter_options(day_or)).get_next(datetime)
    except CroniterError:
        raise CronError(
            f"cron expression {fields.expression!r} can never fire: no date matches day-of-month "
            f"{fields.fields[DAY_OF_MONTH]!r}, month {fields.fields[3]!r} and day-of-week "
            f"{fields.fields[DAY_OF_WEEK]!r} together"
        ) from None


# -- reading --------------------------------------------------------------------------------------


def _read(text: str) -> Any:
    """A croniter for ``text``, or None when croniter refuses it."""
    from croniter import CroniterError, croniter

    try:
        return croniter(text, _REFERENCE, **croniter_options(True))
    except (CroniterError, ValueError, TypeError):
        return None


def _fields_of(expression: str, reader: Any) -> CronFields:
    """The ``CronFields`` of a croniter that accepted ``expression``."""
    expanded = reader.expanded

    def values(index: int) -> tuple[int, ...]:
        if expanded[index] == ["*"]:
            low, high = FIELD_RANGES[index]
            return tuple(range(low, 7 if index == DAY_OF_WEEK else high + 1))
        return tuple(sorted(value for value in expanded[index] if isinstance(value, int)))

    nth = tuple(
        sorted(
            (weekday, LAST if n == "l" else int(n)) for weekday, ns in reader.nth_weekday_of_month.items() for n in ns
        )
    )
    nearest = min(reader.nearest_weekday) if reader.nearest_weekday else None
    return CronFields(
        expression=expression,
        fields=tuple(reader.expressions),
        minutes=values(0),
        hours=values(1),
        days_of_month=() if nearest is not None else values(DAY_OF_MONTH),
        months=values(3),
        weekdays=() if nth else values(DAY_OF_WEEK),
        last_day_of_month="l" in expanded[DAY_OF_MONTH],
        nearest_weekday=nearest,
        nth_weekdays=nth,
    )


# -- Sluice's own checks --------------------------------------------------------------------------


def _field_error(index: int, reason: str, expression: str) -> CronError:
    return CronError(f"invalid cron field {FIELD_NAMES[index]!r}: {reason} in {expression!r}")


def _check_field(part: str, index: int, expression: str) -> None:
    """Refuse hashed values and ranges that do not go up, which croniter would accept."""
    for item in part.split(","):
        if _HASHED.match(item):
            reason = f"{item!r} is a hashed or random value, which Sluice does not support: give the values"
            raise _field_error(index, reason, expression)
        base = item.partition("/")[0]
        if index == DAY_OF_WEEK:
            base = base.partition("#")[0]
        first, dash, last = base.partition("-")
        if not dash:
            continue
        low, high = _number(first, index), _number(last, index)
        if low is None or high is None:
            continue  # not numbers: croniter's refusal is explained later
        if low > high:
            reason = f"{item!r} is a range whose start is after its end (for one that wraps, write two: 'a-max,min-b')"
            raise _field_error(index, reason, expression)
        if low == high:
            reason = f"{item!r} is a range with the same start and end: write {first!r}"
            raise _field_error(index, reason, expression)


def _number(token: str, index: int) -> int | None:
    """A field value written as a number or a name; None for anything else."""
    lowered = token.lower()
    if index == 3 and lowered in MONTH_NAMES:
        return MONTH_NAMES.index(lowered) + 1
    if index == DAY_OF_WEEK and lowered in WEEKDAY_NAMES:
        return WEEKDAY_NAMES.index(lowered)
    return int(token) if token.isdigit() else None


# -- explaining croniter's refusals ---------------------------------------------------------------


def _explain(parts: list[str], expression: str) -> CronError:
    """The error for an expression croniter refused: the first field (and list item) it refuses."""
    for index, part in enumerate(parts):
        if _accepts(index, part):
            continue
        return _field_error(index, _field_reason(part, index), expression)
    return CronError(f"invalid cron expression {expression!r}: {_croniter_reason(' '.join(parts))}")


def _field_reason(part: str, index: int) -> str:
    """Why croniter refuses one field, in words: its first bad list item, or the field as a whole."""
    if "?" in part:
        if index not in (DAY_OF_MONTH, DAY_OF_WEEK):
            return f"{part!r}: '?' is allowed only in day-of-month and day-of-week"
        return f"{part!r}: '?' stands alone in its field"
    for item in part.split(","):
        if not item:
            return f"{part!r} has an empty list item"
        if not _accepts(index, item):
            return _item_reason(item, index)
    return f"{part!r} is not accepted ({_croniter_reason(' '.join(_probe(index, part)))})"


def _probe(index: int, part: str) -> list[str]:
    """Five fields: ``part`` at ``index``, every other field ``*``."""
    fields = ["*"] * 5
    fields[index] = part
    return fields


def _accepts(index: int, part: str) -> bool:
    return _read(" ".join(_probe(index, part))) is not None


def _item_reason(item: str, index: int) -> str:
    """Why croniter refuses one list item of a field, in words."""
    low, high = FIELD_RANGES[index]
    base, slash, step = item.partition("/")
    if slash and (not step.isdigit() or int(step) == 0):
        return f"{item!r} has an invalid step {step!r} (a whole number of at least 1)"
    if index == DAY_OF_WEEK and "#" in base:
        base, _, nth = base.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            return f"{item!r} has an invalid n {nth!r} in 'weekday#n' (1 to 5)"
    if index == DAY_OF_WEEK and re.fullmatch(r"[0-7]l", base, re.IGNORECASE):
        weekday = WEEKDAY_NAMES[int(base[0]) % 7].capitalize()
        return f"{item!r} is written 'L{base[0]}' in croniter's syntax (the last {weekday} of the month)"
    if index == DAY_OF_MONTH and "w" in base.lower():
        nearest = _NEAREST_WEEKDAY.match(base)
        if not nearest:
            return f"{item!r}: 'W' takes one day of the month, such as '15W' (the weekday nearest the 15th)"
        base = nearest.group(1) or nearest.group(2)
    for token in base.split("-"):
        if token in ("*", "?") or (index == DAY_OF_MONTH and token.lower() == "l"):
            continue
        if not token.isdigit() and _number(token, index) is None:
            names = {3: MONTH_NAMES, DAY_OF_WEEK: WEEKDAY_NAMES}.get(index)
            hint = f" or a name such as {names[0]!r}" if names else ""
            return f"{token!r} is not a number{hint}"
        if token.isdigit() and not low <= int(token) <= high:
            return f"{token!r} is out of range {low}-{high}"
    return f"{item!r} is not accepted ({_croniter_reason(' '.join(_probe(index, item)))})"


def _croniter_reason(text: str) -> str:
    """croniter's own words for refusing ``text``, on one line, without the expression it repeats."""
    from croniter import croniter

    try:
        croniter(text, _REFERENCE, **croniter_options(True))
    except Exception as exc:  # croniter raises several types; only its words are wanted here
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        message = re.sub(r"^\[.*?\]\s*(is not acceptable[.,]?\s*)?", "", message)
        return message.split("  Cron:")[0].strip() or "not accepted"
    return "not accepted"
