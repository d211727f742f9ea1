"""Parse a cron expression into the sets of values each field allows.

Five fields (minute, hour, day of month, month, day of week) or a macro (``@hourly``, ``@daily``,
``@weekly``, ``@monthly``, ``@yearly``). Each field is a comma-separated list of ``*``, a value, a
range ``a-b``, each optionally with a step ``/s``; months and weekdays may be named (``jan``,
``mon-fri``); 0 and 7 are both Sunday. Errors quote the bad field and the whole expression.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

# Days in each month of a leap year: the most a month can ever have.
MAX_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class FieldSpec:
    """The rules of one cron field: its name, range and value names."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


FIELDS = (
    FieldSpec("minute", 0, 59),
    FieldSpec("hour", 0, 23),
    FieldSpec("day-of-month", 1, 31),
    FieldSpec("month", 1, 12, MONTH_NAMES, 1),
    # 7 is accepted as Sunday and folded to 0 after parsing.
    FieldSpec("day-of-week", 0, 7, WEEKDAY_NAMES, 0),
)


@dataclass(frozen=True)
class CronSpec:
    """A parsed cron expression: the allowed values of each field, sorted.

    ``weekdays`` uses cron numbering (0 = Sunday … 6 = Saturday). ``day_of_month_star`` and
    ``day_of_week_star`` record whether the field began with ``*``, which decides how the two day
    fields combine (as in Vixie cron).
    """

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]
    day_of_month_star: bool
    day_of_week_star: bool
    fields: tuple[str, ...]


class CronError(ValueError):
    """A cron expression that cannot be parsed or can never fire."""


@lru_cache(maxsize=512)
def parse_cron(expression: str) -> CronSpec:
    """Parse ``expression``; raise ``CronError`` quoting the bad part."""
    if not isinstance(expression, str) or not expression.strip():
        raise CronError("empty cron expression: expected 5 fields such as '0 9 * * *' or a macro such as '@daily'")
    text = " ".join(expression.split())
    if text.startswith("@"):
        macro = MACROS.get(text.lower())
        if macro is None:
            known = ", ".join(sorted(MACROS))
            raise CronError(f"unknown cron macro {text!r}: use one of {known}")
        text = macro
    parts = text.split(" ")
    if len(parts) != 5:
        raise CronError(
            f"invalid cron expression {expression!r}: expected 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    values = [_parse_field(part, spec, expression) for part, spec in zip(parts, FIELDS, strict=True)]
    weekdays = tuple(sorted({day % 7 for day in values[4]}))
    spec = CronSpec(
        expression=expression,
        minutes=tuple(sorted(values[0])),
        hours=tuple(sorted(values[1])),
        days_of_month=tuple(sorted(values[2])),
        months=tuple(sorted(values[3])),
        weekdays=weekdays,
        day_of_month_star=parts[2].startswith("*"),
        day_of_week_star=parts[4].startswith("*"),
        fields=tuple(parts),
    )
    return spec


def days_combine_with_and(spec: CronSpec, day_or: bool) -> bool:
    """Whether a day must match both day fields (True) or either (False).

    With ``day_or`` (the cron default) the fields combine with OR, except that, as in Vixie cron, a
    field beginning with ``*`` leaves the choice to the other one (which is AND with an all-days field).
    """
    return not day_or or spec.day_of_month_star or spec.day_of_week_star


def check_can_fire(spec: CronSpec, day_or: bool) -> None:
    """Raise ``CronError`` when no date can ever match, such as ``0 0 30 2 *`` (30 February)."""
    if not days_combine_with_and(spec, day_or):
        return  # any matching weekday fires
    # Every month/day pair that exists falls on each weekday in some year, so only months matter.
    for month in spec.months:
        if spec.days_of_month[0] <= MAX_DAYS_IN_MONTH[month - 1]:
            return
    raise CronError(
        f"cron expression {spec.expression!r} can never fire: no month in {spec.fields[3]!r} "
        f"has a day {spec.fields[2]!r}"
    )


def _parse_field(text: str, spec: FieldSpec, expression: str) -> set[int]:
    """The values one field allows."""
    result: set[int] = set()
    for item in text.split(","):
        result.update(_parse_item(item, text, spec, expression))
    return result


def _parse_item(item: str, field_text: str, spec: FieldSpec, expression: str) -> range:
    def fail(reason: str) -> CronError:
        return CronError(f"invalid cron field {spec.name!r}: {reason} in {expression!r}")

    if not item:
        raise fail(f"{field_text!r} has an empty list item")
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise fail(f"{item!r} has an invalid step {step_text!r} (a whole number of at least 1)")
        step = int(step_text)
    if base == "*":
        low, high = spec.low, spec.high
        if spec.name == "day-of-week":
            high = 6  # '*' covers each weekday once; 7 would repeat Sunday
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = _value(first, item, spec, fail), _value(last, item, spec, fail)
        if low > high:
            raise fail(f"{item!r} is a range whose start is after its end")
    else:
        low = _value(base, item, spec, fail)
        # 'a/s' means from a to the end of the field, stepping by s (Vixie cron, croniter).
        high = spec.high if slash else low
    return range(low, high + 1, step)


def _value(token: str, item: str, spec: FieldSpec, fail: Callable[[str], CronError]) -> int:
    lowered = token.lower()
    if lowered in spec.names:
        return spec.names.index(lowered) + spec.name_base
    if not token.isdigit():
        hint = f" or a name such as {spec.names[0]!r}" if spec.names else ""
        raise fail(f"{token!r} is not a number{hint}")
    value = int(token)
    if not spec.low <= value <= spec.high:
        raise fail(f"{token!r} is out of range {spec.low}-{spec.high}")
    return value
