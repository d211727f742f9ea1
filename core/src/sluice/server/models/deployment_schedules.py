"""A deployment's schedules: stable ids, the ``schedule`` shorthand, and parsing them for the scheduler.

A deployment stores a list ``schedules`` of ``{"id", "schedule", "active"}`` entries; ``schedule``
is the one-schedule shorthand and always mirrors the first entry. Each entry's id is part of the
idempotency key of the runs it creates, so it must not change when the same list is sent again: an
entry without an id keeps the id of the stored entry with the same schedule, else gets one derived
from the schedule's canonical JSON (a UUID 5), which is the same on every server and in every
position of the list.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from sluice.errors import ConfigurationError, UnknownSlugError
from sluice.schedules import Schedule, ScheduleBudgetExceeded

logger = logging.getLogger("sluice.server.scheduler")

#: Namespace of the UUID 5 ids derived from a schedule's canonical JSON.
SCHEDULE_ID_NAMESPACE = UUID("6f0c1e8e-4a55-4f3c-9a57-2f1d5c0b7e31")


@dataclass(frozen=True)
class ScheduleEntry:
    """One stored schedule of a deployment: its id, its JSON form and whether it creates runs."""

    id: str
    schedule: dict[str, Any]
    active: bool = True


def canonical_schedule_json(schedule: Mapping[str, Any]) -> str:
    """The schedule's JSON with sorted keys and no spaces: equal schedules give equal text."""
    return json.dumps(schedule, sort_keys=True, separators=(",", ":"), default=str)


def schedule_id_for(schedule: Mapping[str, Any]) -> str:
    """The id an entry gets when none is given: a UUID 5 of the schedule's canonical JSON."""
    return str(uuid5(SCHEDULE_ID_NAMESPACE, canonical_schedule_json(schedule)))


def normalise_schedule_json(schedule: Mapping[str, Any]) -> dict[str, Any]:
    """The schedule's stored form: validated and dumped by its type when that type is installed.

    Dumping fixes defaults once (an interval's missing ``anchor_date`` becomes the time of this
    call), so the scheduler computes the same times on every loop. An invalid spec raises
    ``ConfigurationError`` quoting the bad part, and so does one whose next dates cannot be found
    within the schedule budget (``check_next_dates``: the scheduler could not create its runs); a
    type no installed plugin provides is stored as given (the scheduler skips it with a warning
    until the plugin is installed).
    """
    from sluice.schedules import check_next_dates, schedule_from_dict

    data = dict(schedule)
    try:
        parsed = schedule_from_dict(data)
    except UnknownSlugError:
        return data
    check_next_dates(parsed)
    return parsed.model_dump(mode="json")


def normalise_schedule_values(values: dict[str, Any]) -> None:
    """Validate and normalise, in place, the schedules of a create or update body that
    ``resolve_schedule_values`` will store (``normalise_schedule_json`` on each).

    Call it before the request's transaction touches the database: checking a schedule computes its
    dates (up to the schedule budget), and no lock should be held meanwhile. Raises
    ``ConfigurationError`` with the reason.
    """
    if values.get("schedules"):
        values["schedules"] = [
            {**entry, "schedule": normalise_schedule_json(entry["schedule"])} for entry in values["schedules"]
        ]
    elif values.get("schedule") is not None:
        values["schedule"] = normalise_schedule_json(values["schedule"])


def resolve_schedule_values(values: dict[str, Any], stored: Iterable[Mapping[str, Any]] = ()) -> None:
    """Turn the ``schedule``/``schedules`` of a create or update body into the stored columns, in place.

    The schedules must have gone through ``normalise_schedule_values`` first. ``values`` holds only
    the fields being written (an update leaves the others out):

    - a non-empty ``schedules`` list wins; each entry keeps its ``id``, else the id of the ``stored``
      entry with the same schedule, else one derived from the schedule;
    - else a ``schedule`` replaces the list by that one schedule (``None`` or ``[]`` clears it);
    - neither given: nothing changes.

    ``schedule`` is then set to the first entry's schedule (or None). Two entries with the same id
    are refused; two identical schedules without ids are kept once.
    """
    has_list, has_single = "schedules" in values, "schedule" in values
    if not has_list and not has_single:
        return
    given = values.get("schedules") or []
    by_content = {canonical_schedule_json(entry["schedule"]): entry for entry in stored}
    if given:
        raw = [(entry.get("id"), entry["schedule"], entry.get("active", True)) for entry in given]
    elif values.get("schedule") is not None:
        raw = [(None, values["schedule"], None)]
    else:
        raw = []
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for given_id, schedule, active in raw:
        known = by_content.get(canonical_schedule_json(schedule))
        if given_id is not None:
            entry_id = str(given_id)
        elif known is not None:
            entry_id = str(known["id"])
        else:
            entry_id = schedule_id_for(schedule)
        if entry_id in seen:
            if given_id is not None:
                raise ConfigurationError(f"two schedules of the deployment share the id {entry_id}")
            continue
        seen.add(entry_id)
        if active is None:  # the shorthand keeps the on/off switch of the schedule it re-sends
            active = bool(known.get("active", True)) if known is not None else True
        entries.append({"id": entry_id, "schedule": schedule, "active": bool(active)})
    values["schedules"] = entries
    values["schedule"] = entries[0]["schedule"] if entries else None


def stored_entries(
    schedules: Iterable[Mapping[str, Any]] | None, schedule: Mapping[str, Any] | None = None
) -> list[ScheduleEntry]:
    """A deployment's schedules as entries; a row with only the ``schedule`` column (written before
    the list existed) counts as one active entry with its derived id."""
    entries = [
        ScheduleEntry(id=str(item["id"]), schedule=dict(item["schedule"]), active=bool(item.get("active", True)))
        for item in schedules or ()
        if item.get("id") is not None and isinstance(item.get("schedule"), Mapping)
    ]
    if not entries and schedule:
        entries = [ScheduleEntry(id=schedule_id_for(schedule), schedule=dict(schedule))]
    return entries


def active_entries(
    schedules: Iterable[Mapping[str, Any]] | None, schedule: Mapping[str, Any] | None = None
) -> list[ScheduleEntry]:
    """The entries that create runs (``active``)."""
    return [entry for entry in stored_entries(schedules, schedule) if entry.active]


class ScheduleCache:
    """Parsed ``Schedule`` objects by canonical JSON, so a loop over many deployments parses each
    distinct schedule once. Unknown types and invalid specs are logged once and give None; a spec
    whose validation ran out of schedule budget raises ``ScheduleBudgetExceeded`` and is not
    remembered (the budget's time limit depends on the moment)."""

    def __init__(self, max_size: int = 10_000) -> None:
        self._parsed: dict[str, Schedule | None] = {}
        self._max_size = max_size
        self._lock = threading.Lock()

    def get(self, schedule: Mapping[str, Any]) -> Schedule | None:
        """The parsed schedule, or None when it cannot be built here."""
        from sluice.schedules import schedule_from_dict

        key = canonical_schedule_json(schedule)
        if key in self._parsed:
            return self._parsed[key]
        try:
            parsed: Schedule | None = schedule_from_dict(dict(schedule))
        except ScheduleBudgetExceeded:
            raise
        except (UnknownSlugError, ConfigurationError) as exc:
            logger.warning("skipping schedule %s: %s", key, exc)
            parsed = None
        with self._lock:
            if len(self._parsed) >= self._max_size:
                self._parsed.clear()
            self._parsed[key] = parsed
        return parsed
