"""The core's built-in plugin: the API server's own background services, given through ``register_services``.

The plugin manager registers this module itself, always, before any entry point (it is part of the
core, not a first-party plugin); ``sluice plugins ls`` lists it as ``core-services``. Nothing is
imported here until the hook is called: the services pull in the database layer.
"""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_services(register: Register) -> None:
    """The scheduler, late-run marking and crash detection."""
    from sluice.server.services.crash_detection import CrashDetection
    from sluice.server.services.late_runs import LateRuns
    from sluice.server.services.scheduler import Scheduler

    register(Scheduler)
    register(LateRuns)
    register(CrashDetection)
