"""The 'rrule' schedule type for Sluice (distribution `sluice-rrule`)."""

from __future__ import annotations

from sluice.hookspecs import hookimpl


@hookimpl
def register_schedules(register):  # type: ignore[no-untyped-def]
    """Register ``RRuleSchedule`` under the slug 'rrule'."""
    from sluice_rrule.schedule import RRuleSchedule

    register(RRuleSchedule)
