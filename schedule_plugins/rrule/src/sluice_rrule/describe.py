"""One-line descriptions of recurrences, for tables."""

from __future__ import annotations

from sluice_rrule.parser import Recurrence, RecurrenceRule, local_wall_time

FREQUENCY_UNITS = {
    "YEARLY": "year",
    "MONTHLY": "month",
    "WEEKLY": "week",
    "DAILY": "day",
    "HOURLY": "hour",
    "MINUTELY": "minute",
    "SECONDLY": "second",
}
WEEKDAYS = {"MO": "Mon", "TU": "Tue", "WE": "Wed", "TH": "Thu", "FR": "Fri", "SA": "Sat", "SU": "Sun"}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Frequencies whose time of day comes from DTSTART when BYHOUR/BYMINUTE are absent.
DAY_OR_LONGER = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY")


def describe_recurrence(recurrence: Recurrence) -> str:
    """E.g. "every week on Mon at 09:00 (America/New_York)", "every day at 02:30, 10 times (UTC)"."""
    parts = [_describe_rule(rule, recurrence) for rule in recurrence.rules]
    if recurrence.rdates:
        count = len(recurrence.rdates)
        parts.append(f"{count} extra date{'s' if count != 1 else ''}")
    text = "; ".join(parts)
    if recurrence.exdates:
        count = len(recurrence.exdates)
        text += f", except {count} date{'s' if count != 1 else ''}"
    return f"{text} ({recurrence.zone_name})"


def _describe_rule(rule: RecurrenceRule, recurrence: Recurrence) -> str:
    params = rule.params
    frequency = params["FREQ"]
    unit = FREQUENCY_UNITS.get(frequency, frequency.lower())
    interval = int(params.get("INTERVAL", "1"))
    words = [f"every {unit}" if interval == 1 else f"every {interval} {unit}s"]
    if "BYMONTH" in params:
        words.append("in " + ", ".join(MONTHS[int(month) - 1] for month in params["BYMONTH"].split(",")))
    if "BYMONTHDAY" in params:
        days = params["BYMONTHDAY"]
        words.append("on the last day" if days == "-1" else f"on day {days}")
    if "BYDAY" in params:
        words.append("on " + ", ".join(_weekday(day) for day in params["BYDAY"].split(",")))
    clock = _clock(params, recurrence)
    if clock:
        words.append(clock)
    text = " ".join(words)
    if "COUNT" in params:
        text += f", {params['COUNT']} times"
    if rule.until is not None:
        try:
            text += f", until {local_wall_time(rule.until, recurrence.zone):%Y-%m-%d %H:%M}"
        except OverflowError:  # the year 10000 in this zone
            text += f", until {rule.until:%Y-%m-%d %H:%M} UTC"
    elif "UNTIL" in params:  # past every representable instant (UNTIL=99991231 west of UTC)
        until = params["UNTIL"]
        text += f", until {until[:4]}-{until[4:6]}-{until[6:8]}"
    return text


def _weekday(token: str) -> str:
    """ "MO" → "Mon", "-1FR" → "last Fri", "2TU" → "2nd Tue"."""
    ordinal, day = token[:-2], token[-2:]
    name = WEEKDAYS.get(day, day)
    if not ordinal:
        return name
    if ordinal == "-1":
        return f"last {name}"
    number = int(ordinal)
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(abs(number) % 10 if abs(number) not in (11, 12, 13) else 0, "th")
    return f"{number}{suffix} {name}" if number > 0 else f"{-number}{suffix}-last {name}"


def _clock(params: dict[str, str], recurrence: Recurrence) -> str:
    """ "at 09:00" from BYHOUR/BYMINUTE, or from DTSTART for daily and longer rules."""
    dtstart = recurrence.dtstart
    if "BYHOUR" in params or "BYMINUTE" in params:
        hours = params.get("BYHOUR", str(dtstart.hour)).split(",")
        minutes = params.get("BYMINUTE", str(dtstart.minute)).split(",")
        if len(hours) * len(minutes) > 4:
            return f"at hours {','.join(hours)} minutes {','.join(minutes)}"
        return "at " + ", ".join(f"{int(hour):02d}:{int(minute):02d}" for hour in hours for minute in minutes)
    if params["FREQ"] in DAY_OR_LONGER:
        return f"at {dtstart:%H:%M}"
    return ""
