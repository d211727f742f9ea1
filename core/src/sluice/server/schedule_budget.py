"""``ScheduleBudgetMiddleware``: every request computes schedule dates under the app's budget.

The budget (``SLUICE_SCHEDULE_MAX_SCANNED``, ``SLUICE_SCHEDULE_MAX_SECONDS``) comes from the
settings the app was built with, not from the process's environment, so that two apps in one
process (tests, the embedded server) each keep their own. It is a context variable: the worker
threads that sync routes run in get a copy of it.
"""

from __future__ import annotations

from typing import Any

from sluice.schedule_budget import ScheduleBudget, schedule_budget


class ScheduleBudgetMiddleware:
    """A pure ASGI middleware: sets the schedule budget for the rest of the request."""

    def __init__(self, app: Any, budget: ScheduleBudget) -> None:
        self.app = app
        self.budget = budget

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the request under ``budget``."""
        with schedule_budget(self.budget):
            await self.app(scope, receive, send)
