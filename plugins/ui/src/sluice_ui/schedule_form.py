"""The schedule part of the deployment edit form: inputs to schedule JSON, and the next-runs preview.

Validation is ``schedule_from_dict``'s and ``check_next_dates``'s, as on the server: the UI checks
nothing the schedule plugins and the schedule budget do not. Every function here may compute dates
(bounded by the budget, but up to a second): pages call them in a worker thread, never on the event
loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sluice.errors import SluiceError

#: The kinds the form offers; a schedule of another registered type is edited as JSON.
FORM_KINDS = ("none", "cron", "interval", "rrule", "json")
#: Fire times shown by the preview.
PREVIEW_COUNT = 5


def describe_schedule(schedule: Mapping[str, Any] | None) -> str:
    """The schedule in words (its ``describe()``), "" for none, or why it cannot be read."""
    if not schedule:
        return ""
    from sluice.schedules import schedule_from_dict

    try:
        return schedule_from_dict(dict(schedule)).describe()
    except (SluiceError, ValueError) as exc:
        return f"unreadable schedule: {exc}"


def next_dates(schedule: Mapping[str, Any] | None, count: int = PREVIEW_COUNT) -> list[datetime]:
    """The schedule's next ``count`` fire times, or [] when there is none or it cannot be read."""
    if not schedule:
        return []
    from sluice.schedules import schedule_from_dict

    try:
        return schedule_from_dict(dict(schedule)).get_dates(count)
    except (SluiceError, ValueError):
        return []


def form_values(schedule: Mapping[str, Any] | None) -> dict[str, str]:
    """The inputs' values for a stored schedule (the kind select and its fields)."""
    import json

    values = {"kind": "none", "cron": "", "interval": "", "anchor_date": "", "rrule": "", "timezone": "", "json": ""}
    if not schedule:
        return values
    kind = str(schedule.get("type", ""))
    values["timezone"] = str(schedule.get("timezone") or "")
    values["json"] = json.dumps(dict(schedule), indent=2)
    if kind == "cron":
        values.update(kind="cron", cron=str(schedule.get("cron", "")))
    elif kind == "rrule":
        values.update(kind="rrule", rrule=str(schedule.get("rrule", "")))
    elif kind == "interval":
        values["kind"] = "interval"
        try:
            from sluice.schedules import schedule_from_dict

            parsed: Any = schedule_from_dict(dict(schedule))
            values["interval"] = f"{parsed.interval.total_seconds():g}"
            values["anchor_date"] = parsed.anchor_date.isoformat()
        except (SluiceError, ValueError, AttributeError):
            values["interval"] = str(schedule.get("interval", ""))
    else:
        values["kind"] = "json"
    return values


def schedule_from_form(
    form: Mapping[str, Any], existing: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """``(schedule JSON or None, error)`` from the posted ``schedule_*`` inputs.

    Fields the form does not show (cron's ``day_or``…) keep their stored values when the kind is
    unchanged. The result is checked with ``schedule_from_dict``; its message is the error.
    """
    import json

    kind = str(form.get("schedule_kind") or "none")
    if kind == "none":
        return None, None
    if kind == "json":
        try:
            schedule = json.loads(str(form.get("schedule_json") or ""))
        except ValueError as exc:
            return None, f"the schedule is not valid JSON ({exc})"
        if not isinstance(schedule, dict):
            return None, "the schedule must be a JSON object with a 'type'"
    else:
        base = dict(existing) if existing and existing.get("type") == kind else {}
        schedule = {**base, "type": kind}
        timezone = str(form.get("schedule_timezone") or "").strip()
        if timezone:
            schedule["timezone"] = timezone
        else:
            schedule.pop("timezone", None)
        if kind == "cron":
            schedule["cron"] = str(form.get("schedule_cron") or "").strip()
        elif kind == "rrule":
            schedule["rrule"] = str(form.get("schedule_rrule") or "").strip()
        elif kind == "interval":
            text = str(form.get("schedule_interval") or "").strip()
            try:
                schedule["interval"] = float(text)
            except ValueError:
                return None, f"the interval is a number of seconds, not {text!r}"
            anchor = str(form.get("schedule_anchor_date") or "").strip()
            if anchor:
                schedule["anchor_date"] = anchor
            else:
                schedule.pop("anchor_date", None)
        else:
            return None, f"unknown schedule kind {kind!r}"
    return check_schedule(schedule)


def same_schedule(first: Mapping[str, Any] | None, second: Mapping[str, Any] | None) -> bool:
    """True when both are no schedule, or the same schedule once each is read by its type."""
    if not first or not second:
        return not first and not second
    from sluice.schedules import schedule_from_dict

    try:
        return schedule_from_dict(dict(first)) == schedule_from_dict(dict(second))
    except (SluiceError, ValueError):
        return dict(first) == dict(second)


def check_schedule(schedule: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """``(schedule, None)`` when the server would store it, else ``(None, the reason)``: it must build
    (``schedule_from_dict``) and its next dates must be found within the budget (``check_next_dates``)."""
    from sluice.schedules import check_next_dates, schedule_from_dict

    try:
        check_next_dates(schedule_from_dict(schedule))
    except (SluiceError, ValueError) as exc:
        return None, str(exc)
    return schedule, None


def preview(form: Mapping[str, Any], existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The answer of the live preview: ``{"ok", "description", "dates", "labels", "error"}``.

    ``dates`` are ISO 8601; ``labels`` the same times for people, in the schedule's time zone.
    """
    schedule, error = schedule_from_form(form, existing)
    if error:
        return {"ok": False, "description": "", "dates": [], "labels": [], "error": error}
    if schedule is None:
        words = "no schedule: runs only when started by hand"
        return {"ok": True, "description": words, "dates": [], "labels": [], "error": None}
    from sluice.schedules import schedule_from_dict

    try:
        parsed = schedule_from_dict(schedule)
        dates = parsed.get_dates(PREVIEW_COUNT)
    except (SluiceError, ValueError) as exc:  # past the budget this time (a loaded machine), or stopped
        return {"ok": False, "description": "", "dates": [], "labels": [], "error": str(exc)}
    return {
        "ok": True,
        "description": parsed.describe(),
        "dates": [date.isoformat() for date in dates],
        "labels": [date.strftime("%a %Y-%m-%d %H:%M %Z") for date in dates],
        "error": None,
    }
