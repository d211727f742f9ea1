"""The crash-detection service: runs held by an agent that stopped heartbeating become CRASHED.

Every quarter of ``agent_heartbeat_timeout`` (at least every 0.5 s, at most every 15 s), each agent
whose last heartbeat is older than the timeout has its PENDING, RUNNING and CANCELLING runs set
CRASHED, with the agent's name and silence in the state message.

Silence counts only while the server could hear: a server judges no agent before it has itself been
up for the timeout (silence while it was down — a restart, an upgrade — is not the agent's), and
after any stretch in which its loop could not run (the database was unreachable, the process was
suspended) it gives every agent a full timeout again; a server that begins its shutdown stops judging
at once (it refuses new connections while it finishes open requests). Agents and engines deliver what they spooled
during the outage meanwhile; a run crashed too early would refuse their late COMPLETED.

One transaction per loop; on PostgreSQL rows another transaction holds are skipped until the next
loop, so replicas never crash one run twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import insert, select

from sluice.queues import ACTIVE_STATE_TYPES
from sluice.schemas.states import StateCreate, StateType
from sluice.server.database.engine import Database
from sluice.server.database.tables import AgentTable, FlowRunStateTable, FlowRunTable
from sluice.server.database.types import utcnow
from sluice.server.orchestration import apply_state
from sluice.server.services.base import DatabaseService
from sluice.settings import Settings

logger = logging.getLogger("sluice.server.crash_detection")

#: Runs crashed per transaction.
BATCH = 500


class CrashDetection(DatabaseService):
    """Marks CRASHED the active runs of agents whose heartbeat expired."""

    name = "crash_detection"

    def __init__(self, database: Database, settings: Settings) -> None:
        super().__init__(database, settings)
        self.timeout = timedelta(seconds=settings.agent_heartbeat_timeout)
        self.loop_seconds = min(15.0, max(0.5, settings.agent_heartbeat_timeout / 4))  # type: ignore[misc]
        self.started_at = utcnow()
        #: A gap this long between two loops that ran means the server could not hear agents meanwhile.
        self.blind_after = timedelta(seconds=max(3 * self.loop_seconds, 5.0))
        self.last_loop: datetime | None = None

    async def run_once(self) -> None:
        """One loop, in a worker thread."""
        now = utcnow()
        if self.last_loop is not None and now - self.last_loop > self.blind_after:
            logger.warning(
                "crash detection: no loop ran for %.0fs (database or server unavailable); every agent gets "
                "%gs to heartbeat again before its runs are judged",
                (now - self.last_loop).total_seconds(),
                self.timeout.total_seconds(),
            )
            self.started_at = now
        crashed = await asyncio.to_thread(self.crash_runs_of_silent_agents, now)
        self.last_loop = utcnow()
        if crashed:
            logger.warning("crash detection: %d run(s) of silent agents set CRASHED", crashed)

    def crash_runs_of_silent_agents(self, now: datetime | None = None) -> int:
        """Set CRASHED every active run of an agent silent for longer than the timeout; returns how many."""
        now = now or utcnow()
        if now - self.started_at < self.timeout:
            return 0  # agents may not have reached this server yet (since it started, or since an outage)
        cutoff = now - self.timeout
        with self.database.session() as session:
            silent = {
                row.id: (row.name, row.last_heartbeat)
                for row in session.execute(
                    select(AgentTable.id, AgentTable.name, AgentTable.last_heartbeat).where(
                        AgentTable.last_heartbeat < cutoff
                    )
                )
            }
            if not silent:
                return 0
            query = (
                select(FlowRunTable)
                .where(FlowRunTable.agent_id.in_(list(silent)), FlowRunTable.state_type.in_(ACTIVE_STATE_TYPES))
                .limit(BATCH)
            )
            if not self.database.is_sqlite:
                query = query.with_for_update(skip_locked=True, key_share=True)
            history = []
            for run in session.scalars(query):
                name, last = silent[run.agent_id]
                seconds = (now - last).total_seconds() if last else float("inf")
                message = (
                    f"Crashed: its agent {name!r} ({run.agent_id}) stopped heartbeating "
                    f"({seconds:.0f}s ago; the limit is {self.timeout.total_seconds():g}s)."
                )
                history.append(apply_state(run, StateCreate(type=StateType.CRASHED, message=message), now))
            if history:
                session.execute(insert(FlowRunStateTable.__table__), history)
            session.commit()
            return len(history)
