"""The core's built-in plugin: the API server's own background services, given through
``register_services``, and the core's two task runners (threads, sequential), given through
``register_task_runners``.

The plugin manager registers this module itself, always, before any entry point (it is part of the
core, not a first-party plugin); ``sluice plugins ls`` lists it as ``core-services``. Nothing is
imported here until a hook is called: the services pull in the database layer.
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


@hookimpl
def register_task_runners(register: Register) -> None:
    """The thread-pool runner ('threads', the default) and the sequential one ('sequential')."""
    from sluice.task_runners import SequentialTaskRunner, ThreadPoolTaskRunner

    register(ThreadPoolTaskRunner)
    register(SequentialTaskRunner)
