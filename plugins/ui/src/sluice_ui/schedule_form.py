"""The schedule part of the deployment edit form, generated from the installed schedule types' JSON
schemas: inputs to schedule JSON, and the next-runs preview.

The kind select offers "No schedule", every installed schedule type, and "Other (JSON)". Each type's
fields become inputs (``sluice_ui.forms``), shown while that type is selected (``data-kind``). A field
several types share with the same widget — ``timezone`` — is one input, ``schedule_<field>``, so what
was typed survives a change of type; fields of one name but different widgets get one input per type,
``schedule_<type>.<field>``. An empty input is left out, so the type's own default applies.

Validation is ``schedule_from_dict``'s and ``check_next_dates``'s, as on the server: the UI checks
nothing the schedule plugins and the schedule budget do not. Every function here may compute dates
(bounded by the budget, but up to a second): pages call them in a worker thread, never on the event
loop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sluice.errors import SluiceError
from sluice_ui.forms import FormField, read_field, schema_fields

#: Prefix of the schedule inputs' names.
PREFIX = "schedule_"
#: The kind meaning "no schedule", and the one editing any schedule as JSON.
NO_SCHEDULE, AS_JSON = "none", "json"
#: Fire times shown by the preview.
PREVIEW_COUNT = 5


@dataclass
class ScheduleInput:
    """One input of the schedule fieldset and the schedule types that read it."""

    field: FormField
    kinds: list[str]

    @property
    def data_kind(self) -> str:
        """The ``data-kind`` attribute: the types the input is shown for."""
        return " ".join(self.kinds)


@dataclass
class ScheduleForm:
    """What the template renders: the selected kind, the choices, the inputs and the JSON text."""

    kind: str
    choices: list[tuple[str, str]]
    inputs: list[ScheduleInput]
    json: str = ""
    #: Per type, its fields' inputs by field name (the ``FormField`` objects of ``inputs``).
    fields_of: dict[str, dict[str, FormField]] = field(default_factory=dict)


def installed_types() -> dict[str, type[Any]]:
    """The installed schedule types by slug ({} when they cannot be read: `sluice plugins ls` says why)."""
    from sluice.schedules import schedule_types

    try:
        return schedule_types()
    except Exception:  # a broken plugin must not take the edit page down
        return {}


def _schema_without_type(cls: type[Any]) -> dict[str, Any]:
    schema = dict(cls.model_json_schema())
    schema["properties"] = {name: prop for name, prop in (schema.get("properties") or {}).items() if name != "type"}
    return schema


def _widget(item: FormField) -> tuple[Any, ...]:
    return (item.kind, tuple(item.options))


def new_form(types: Mapping[str, type[Any]] | None = None) -> ScheduleForm:
    """An empty form: every type's inputs (booleans at their defaults), no kind selected."""
    types = installed_types() if types is None else types
    claimants: dict[str, list[tuple[str, FormField]]] = {}
    for slug, cls in sorted(types.items()):
        for item in schema_fields(_schema_without_type(cls), {}, PREFIX, use_defaults=False):
            if item.kind == "boolean":  # an unticked box would say False: start from the type's default
                item.checked = item.schema.get("default") is True
            claimants.setdefault(item.name, []).append((slug, item))
    fields_of: dict[str, dict[str, FormField]] = {slug: {} for slug in types}
    own: list[ScheduleInput] = []
    shared: list[ScheduleInput] = []
    for name, holders in claimants.items():
        if len({_widget(item) for _, item in holders}) == 1:
            first = holders[0][1]
            if len({item.description for _, item in holders}) > 1:
                first.description = None  # one type's explanation would mislead for the others
            (shared if len(holders) > 1 else own).append(ScheduleInput(first, [slug for slug, _ in holders]))
            for slug, _ in holders:
                fields_of[slug][name] = first
            continue
        for slug, item in holders:
            item.input_name = f"{PREFIX}{slug}.{name}"
            own.append(ScheduleInput(item, [slug]))
            fields_of[slug][name] = item
    choices = [(NO_SCHEDULE, "No schedule"), *((slug, slug) for slug in sorted(types)), (AS_JSON, "Other (JSON)")]
    # A type's own fields first, then the ones several types share (the time zone).
    return ScheduleForm(NO_SCHEDULE, choices, own + shared, fields_of=fields_of)


def form_values(schedule: Mapping[str, Any] | None) -> ScheduleForm:
    """The form for a stored schedule: its type selected and its fields filled in.

    A schedule whose type is not installed is shown as JSON.
    """
    form = new_form()
    if not schedule:
        return form
    form.json = json.dumps(dict(schedule), indent=2)
    kind = str(schedule.get("type", ""))
    if kind not in form.fields_of:
        form.kind = AS_JSON
        return form
    form.kind = kind
    filled = {item.name: item for item in schema_fields(_schema_without_type(installed_types()[kind]), schedule, "")}
    for name, item in form.fields_of[kind].items():
        if name in filled:
            item.value, item.checked = filled[name].value, filled[name].checked
    return form


def posted_values(form: Mapping[str, Any]) -> ScheduleForm:
    """The form as posted, to show again: the kind chosen and every input as typed."""
    schedule_form = new_form()
    kind = str(form.get(f"{PREFIX}kind") or NO_SCHEDULE)
    schedule_form.kind = kind if kind in dict(schedule_form.choices) else NO_SCHEDULE
    schedule_form.json = str(form.get(f"{PREFIX}json") or "")
    for item in schedule_form.inputs:
        read_field(item.field, form)
    return schedule_form


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


def schedule_from_form(form: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """``(schedule JSON or None, error)`` from the posted ``schedule_*`` inputs.

    The chosen type's inputs are read by their schema (an empty one is left out, so its default
    applies); the result is checked with ``schedule_from_dict``, whose message is the error.
    """
    kind = str(form.get(f"{PREFIX}kind") or NO_SCHEDULE)
    if kind == NO_SCHEDULE:
        return None, None
    if kind == AS_JSON:
        try:
            schedule = json.loads(str(form.get(f"{PREFIX}json") or ""))
        except ValueError as exc:
            return None, f"the schedule is not valid JSON ({exc})"
        if not isinstance(schedule, dict):
            return None, "the schedule must be a JSON object with a 'type'"
        return check_schedule(schedule)
    fields = new_form().fields_of.get(kind)
    if fields is None:
        return None, f"unknown schedule type {kind!r}: it is not installed (see `sluice plugins ls`)"
    schedule = {"type": kind}
    problems = []
    for name, item in fields.items():
        if item.kind == "boolean" and item.input_name not in form:
            continue  # a page always sends a box (a hidden "false" first): absent means left out
        given, value, error = read_field(item, form)
        if error:
            problems.append(f"{item.label} {error}")
        elif given:
            schedule[name] = value
    if problems:
        return None, "; ".join(problems)
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


def preview(form: Mapping[str, Any]) -> dict[str, Any]:
    """The answer of the live preview: ``{"ok", "description", "dates", "labels", "error"}``.

    ``dates`` are ISO 8601; ``labels`` the same times for people, in the schedule's time zone.
    """
    schedule, error = schedule_from_form(form)
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
