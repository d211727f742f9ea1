"""The 'cron' schedule type for Sluice (distribution `sluice-cron`)."""

from __future__ import annotations

from sluice.hookspecs import hookimpl


@hookimpl
def register_schedules(register):  # type: ignore[no-untyped-def]
    """Register ``CronSchedule`` under the slug 'cron'."""
    from sluice_cron.schedule import CronSchedule

    register(CronSchedule)
