"""What an agent saw happen to its runs, delivered to the API even across an outage and an agent restart.

When a run's infrastructure ends, the agent tells the API: nothing if the run reported a final state,
CANCELLED if it was being cancelled, else CRASHED with the exit code. When the API cannot be reached,
the observation is kept in ``$SLUICE_HOME/outbox/agent`` (a ``Spool``: one file each, fsynced) and a
thread delivers it with backoff once the API answers — also after the agent restarted, since every
agent on that home delivers what is there. States the agent proposes for its runs (CRASHED when
infrastructure could not start, CANCELLED before a start) go the same way. So a run whose process
ended is never left RUNNING once the API is reachable again.

Reports the run's own engine spooled on the same host and left behind (it was killed, or gave up
after its retention) are delivered first: its final state and logs are better than a CRASHED guess.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sluice.errors import APIUnavailable, ObjectNotFound
from sluice.reporting import deliver_with, outbox_folder, state_entry
from sluice.spool import Entry, Spool, SpoolSender

logger = logging.getLogger("sluice.agent")

_FINAL = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")


def exit_entry(flow_run_id: UUID, run_name: str, status_code: int, observed: datetime) -> Entry:
    """The spool entry of a run's infrastructure that ended with ``status_code`` at ``observed``."""
    return {
        "kind": "exit",
        "flow_run_id": str(flow_run_id),
        "run_name": run_name,
        "status_code": status_code,
        "observed": observed.isoformat(),
        # the ids of the states this observation may propose, so a retry records each once
        "state_ids": {"CANCELLED": str(uuid4()), "CRASHED": str(uuid4())},
    }


def state_after_exit(current: Any, entry: Entry) -> Any:
    """The state a run should get after its infrastructure ended (a ``StateCreate``), or None.

    ``current`` is the run's state on the API: a final state needs nothing; CANCELLING becomes
    CANCELLED; anything else (RUNNING, PENDING…) CRASHED with the exit code.
    """
    from sluice.schemas import StateCreate

    current_type = current.type.value if current is not None else None
    if current_type in _FINAL:
        return None
    observed = datetime.fromisoformat(entry["observed"])
    if current_type == "CANCELLING":
        return StateCreate(
            type="CANCELLED",
            message="Cancelled: the agent stopped its infrastructure.",
            id=UUID(entry["state_ids"]["CANCELLED"]),
            timestamp=observed,
        )
    return StateCreate(
        type="CRASHED",
        message=(
            f"Flow run infrastructure exited with code {entry['status_code']} "
            f"without reporting a final state (the run was {current_type})."
        ),
        id=UUID(entry["state_ids"]["CRASHED"]),
        timestamp=observed,
    )


class AgentOutbox:
    """Delivers the agent's observations and proposals now, or keeps them on disk until the API answers.

    :param home: ``SLUICE_HOME``: the outbox is ``home/outbox/agent``; engines of the same host spool in
        ``home/outbox/flow-runs/<run id>``.
    :param client_factory: makes a client (one per delivery round).
    """

    def __init__(self, home: Path, client_factory: Any) -> None:
        self.home = home
        self.spool = Spool(home / "outbox" / "agent")
        self._client_factory = client_factory
        self.sender = SpoolSender(self.spool, self._deliver, name="sluice-agent-outbox")

    def start(self) -> None:
        """Deliver what earlier agents on this home left undelivered."""
        if len(self.spool):
            logger.info("Delivering %d report(s) kept in %s", len(self.spool), self.spool.folder)
            self.sender.wake()

    def wake(self) -> None:
        """The API answered something: try what waits now rather than at the next backoff step."""
        if self.sender.last_error is not None:
            self.sender.wake()

    def stop(self) -> None:
        """Stop delivering (what is left stays on disk for the next agent)."""
        self.sender.stop(timeout=2.0)
        left = len(self.spool)
        if left:
            logger.warning("%d report(s) not delivered yet; kept in %s for the next agent", left, self.spool.folder)

    def report_exit(self, client: Any, flow_run_id: UUID, run_name: str, status_code: int) -> None:
        """The run's infrastructure ended with ``status_code``: record what that means for the run."""
        engine = Spool(outbox_folder(self.home, flow_run_id))
        adopted = self.spool.adopt(engine)  # its engine's undelivered reports go first
        if adopted:
            logger.warning("flow run %s left %d undelivered report(s); the agent delivers them", run_name, adopted)
        entry = exit_entry(flow_run_id, run_name, status_code, datetime.now(UTC))
        self._deliver_or_keep(client, entry, f"flow run {run_name} ended (exit code {status_code})")

    def report_state(self, client: Any, flow_run_id: UUID, state: Any, what: str) -> None:
        """Propose ``state`` (a ``StateCreate`` with an id) for the run, now or once the API answers."""
        self._deliver_or_keep(client, state_entry(flow_run_id, state), what)

    def _deliver_or_keep(self, client: Any, entry: Entry, what: str) -> None:
        waiting = len(self.spool)
        if not waiting:
            try:
                self._deliver(entry, client)
                return
            except APIUnavailable as exc:
                reason = f"the API cannot be reached ({exc})"
        else:
            reason = f"{waiting} earlier report(s) are waiting to be delivered first"
        self.spool.append(entry)  # on disk before saying so: the agent may die any moment
        logger.warning("%s; %s: kept in %s and delivered when the API answers", what, reason, self.spool.folder)
        self.sender.wake()

    def _deliver(self, entry: Entry, client: Any = None) -> None:
        if client is None:
            with self._client_factory() as own:
                return self._deliver(entry, own)
        if entry["kind"] != "exit":
            return deliver_with(client, entry)
        try:
            current = client.read_flow_run(entry["flow_run_id"]).state
        except ObjectNotFound:
            return  # deleted meanwhile
        state = state_after_exit(current, entry)
        name = entry["run_name"]
        if state is None:
            logger.info("Flow run %s finished: %s", name, current.name)
            return
        if state.type.value == "CRASHED":
            logger.error("Flow run %s crashed: %s", name, state.message)
        else:
            logger.info("Flow run %s cancelled", name)
        client.set_flow_run_state(entry["flow_run_id"], state)
