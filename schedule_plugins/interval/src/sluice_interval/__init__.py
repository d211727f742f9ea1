"""The 'interval' schedule type for Sluice (distribution `sluice-interval`)."""

from __future__ import annotations

from sluice.hookspecs import hookimpl


@hookimpl
def register_schedules(register):  # type: ignore[no-untyped-def]
    """Register ``IntervalSchedule`` under the slug 'interval'."""
    from sluice_interval.schedule import IntervalSchedule

    register(IntervalSchedule)
