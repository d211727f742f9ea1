"""The agent: claims runs from work queues and starts each on its infrastructure.

``Agent(queues=["default"]).start()`` registers the agent, then, until stopped:

- a claim thread long-polls ``POST /api/work_queues/claim`` for as many runs as it has room for;
- each claimed run gets a worker thread: it waits for the run's start time (runs are claimed up to
  ``prefetch_seconds`` early), loads and prepares the infrastructure, runs it, records its
  identifier on the run (``infrastructure_pid``) and, when it ends without a final state, marks the
  run CRASHED with the exit code — through the agent's outbox (``sluice.agent_outbox``), which keeps
  what the API cannot take now on disk and delivers it, with backoff, once it answers;
- a heartbeat thread tells the server the agent is alive and learns which of its runs are being
  cancelled (CANCELLING): their infrastructure is killed and the run set CANCELLED; and which runs it
  claimed (PENDING): one it never heard of at two heartbeats in a row — the claim's answer was lost on
  its way — is started then.

``stop()`` (SIGTERM, Ctrl-C) stops claiming and lets running runs finish for ``grace_seconds``;
runs still going then are killed and handed back (SCHEDULED again) for another agent.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from sluice.backoff import GaveUp, retry
from sluice.errors import InfrastructureNotFound, ObjectNotFound, SluiceError
from sluice.infrastructure import KILL_GRACE_SECONDS
from sluice.settings import Settings, get_settings

logger = logging.getLogger("sluice.agent")
T = TypeVar("T")


@dataclass
class ActiveRun:
    """A run this agent holds, with its infrastructure once started."""

    flow_run: Any
    infrastructure: Any = None
    identifier: str | None = None
    cancel_requested: bool = False
    handed_back: bool = False
    woken: threading.Event = field(default_factory=threading.Event)


def legacy_queue_name(tags: Sequence[str]) -> str:
    """The legacy tag queue an agent started with ``-t`` tags polls: ``tags:a,b``."""
    return "tags:" + ",".join(sorted(set(tags)))


class Agent:
    """Claims runs of ``queues`` (and of queues whose names start with ``match``) and runs them.

    :param limit: most runs at once (None: no limit); the agent claims only what it has room for.
    :param prefetch_seconds: claim runs this early, so slow infrastructure starts on time.
    :param grace_seconds: on stop, how long running runs may finish before they are handed back.
    :param client_factory: makes the agent's API clients (default ``sluice.client.get_client``).
    """

    def __init__(
        self,
        queues: Sequence[str] = (),
        match: str | None = None,
        tags: Sequence[str] = (),
        limit: int | None = None,
        prefetch_seconds: float = 10.0,
        name: str | None = None,
        grace_seconds: float = 30.0,
        settings: Settings | None = None,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self._client_factory = client_factory
        self.queues = list(queues)
        self.tags = list(tags)
        if self.tags:
            self.queues.append(legacy_queue_name(self.tags))
        self.match = match
        self.limit = limit
        self.prefetch_seconds = prefetch_seconds
        self.name = name or f"agent-{socket.gethostname()}-{uuid4().hex[:6]}"
        self.grace_seconds = grace_seconds
        self.id: UUID = uuid4()
        self.heartbeat_seconds = self.settings.agent_heartbeat_seconds
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._active: dict[UUID, ActiveRun] = {}
        self._slot_freed = threading.Event()
        self._workers: list[threading.Thread] = []
        self._client: Any = None
        self._outbox: Any = None
        self._adopting = False
        # Runs the server said this agent claimed, unknown to it at the last heartbeat.
        self._unheard: set[UUID] = set()

    # -- life cycle ----------------------------------------------------------------------------

    def start(self, run_once: bool = False) -> int:
        """Run until ``stop()`` (or, with ``run_once``, until the runs of one claim have ended).

        Returns how many runs this agent started.
        """
        from sluice.agent_outbox import AgentOutbox
        from sluice.client import get_client

        factory = self._client_factory or get_client
        self._client = factory()
        self._outbox = AgentOutbox(self.settings.home, factory)
        try:
            self._register()
            self._outbox.start()
            threading.Thread(target=self._heartbeat_loop, name="sluice-agent-heartbeat", daemon=True).start()
            if run_once:
                self._submit_all(self._claim(wait_seconds=0.0))
                self._join_workers(None)
            else:
                self._adopting = True
                threading.Thread(target=self._claim_loop, name="sluice-agent-claim", daemon=True).start()
                while not self._stopping.wait(0.2):
                    pass
                self._shut_down()
        finally:
            self._stopping.set()
            self._outbox.stop()
            self._client.close()
        return len(self._workers)

    def stop(self) -> None:
        """Stop claiming; ``start`` then lets running runs finish (``grace_seconds``) and returns."""
        self._stopping.set()

    @property
    def active_runs(self) -> list[UUID]:
        """Ids of the runs this agent holds now."""
        with self._lock:
            return list(self._active)

    def _register(self) -> None:
        try:
            retry(
                lambda: self._client.register_agent(self.name, self._named_queues(), agent_id=self.id),
                SluiceError,
                stop=self._stopping,
                on_retry=lambda exc, delay: logger.warning(
                    "cannot register with the API (%s); retrying in %.1fs", exc, delay
                ),
            )
        except GaveUp:
            return  # stopping
        if self._outbox is not None:
            self._outbox.wake()
        if self.tags:
            self._ensure_legacy_queue()
        where = "the embedded API" if self._client.is_embedded else self._client.api_url
        shown = ", ".join(self.queues) + (f" and queues matching {self.match!r}*" if self.match else "")
        logger.info("Agent %s (%s) polling %s on %s", self.name, self.id, shown or "no queues", where)

    def _named_queues(self) -> list[str]:
        return [queue for queue in self.queues if not queue.startswith("tags:")]

    def _ensure_legacy_queue(self) -> None:
        from sluice.errors import ObjectAlreadyExists

        try:
            self._client.create_work_queue(legacy_queue_name(self.tags), filter=sorted(set(self.tags)))
        except ObjectAlreadyExists:
            pass

    def _shut_down(self) -> None:
        """Wait for running runs up to the grace period, then hand the rest back."""
        if self._active:
            logger.info("Stopping: waiting up to %gs for %d run(s) to finish", self.grace_seconds, len(self._active))
        self._join_workers(self.grace_seconds)
        with self._lock:
            remaining = list(self._active.values())
        for active in remaining:
            self._hand_back(active)
        self._join_workers(self.grace_seconds + 5)

    def _join_workers(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for worker in list(self._workers):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            worker.join(left)

    # -- claiming ------------------------------------------------------------------------------

    def _room(self) -> int:
        with self._lock:
            busy = len(self._active)
        return 10 if self.limit is None else self.limit - busy

    def _claim(self, wait_seconds: float) -> list[Any]:
        room = self._room()
        if room <= 0:
            return []
        return self._client.claim_flow_runs(
            self.queues,
            self.id,
            limit=room,
            prefetch_seconds=self.prefetch_seconds,
            wait_seconds=wait_seconds,
            match=self.match,
        )

    def _claim_wait(self) -> float:
        wait = self.settings.agent_claim_wait_seconds
        if self._client.is_embedded:  # the embedded transport's own timeout bounds a long poll
            wait = min(wait, max(0.0, self.settings.api_timeout - 5))
        return wait

    def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            if self._room() <= 0:
                self._slot_freed.wait(1.0)
                self._slot_freed.clear()
                continue
            try:
                runs = retry(
                    lambda: self._claim(self._claim_wait()),
                    SluiceError,
                    stop=self._stopping,
                    on_retry=self._claim_failed,
                )
            except GaveUp:
                return  # stopping: the client is closing, not a failure
            if self._stopping.is_set():
                for run in runs:
                    self._hand_back(ActiveRun(run))
                return
            self._submit_all(runs)

    def _claim_failed(self, exc: BaseException, delay: float) -> None:
        if not self._stopping.is_set():
            logger.warning("claim failed (%s); retrying in %.1fs", exc, delay)

    def _submit_all(self, runs: list[Any]) -> None:
        for run in runs:
            active = ActiveRun(run)
            with self._lock:
                if run.id in self._active:
                    continue  # adopted meanwhile (its claim's answer came late)
                self._active[run.id] = active
            worker = threading.Thread(target=self._execute, args=(active,), name=f"sluice-run-{run.name}", daemon=True)
            self._workers.append(worker)
            worker.start()

    # -- one run -------------------------------------------------------------------------------

    def _execute(self, active: ActiveRun) -> None:
        run = active.flow_run
        try:
            if not self._wait_for_start(active):
                return
            self._run_infrastructure(active)
        except Exception as exc:  # never let one run take the agent down
            logger.exception("flow run %s: unexpected agent error", run.id)
            self._propose(run.id, "CRASHED", f"The agent failed while running it: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._active.pop(run.id, None)
            self._slot_freed.set()

    def _wait_for_start(self, active: ActiveRun) -> bool:
        """Sleep until the run's expected start time; False if it was cancelled or handed back meanwhile."""
        run = active.flow_run
        start = run.expected_start_time
        while start is not None:
            delay = (start - datetime.now(UTC)).total_seconds()
            if delay <= 0 or active.cancel_requested or self._stopping.is_set():
                break
            active.woken.wait(min(delay, 1.0))
        if active.cancel_requested:
            self._propose(run.id, "CANCELLED", "Cancelled before its infrastructure started.")
            return False
        if self._stopping.is_set():
            self._hand_back(active)
            return False
        return True

    def _run_infrastructure(self, active: ActiveRun) -> None:
        from sluice.agent_infrastructure import load_infrastructure, prepare_for_run

        run = active.flow_run
        try:
            if run.deployment_id is None:
                raise SluiceError("the run has no deployment")
            deployment = self._through_outage(lambda: self._client.read_deployment(run.deployment_id))
            block = self._through_outage(lambda: load_infrastructure(self._client, deployment))
            infrastructure = prepare_for_run(block, run, deployment, self._client, self.settings)
        except GaveUp:  # the agent is stopping: another agent will start it
            self._hand_back(active)
            return
        except SluiceError as exc:
            logger.error("flow run %s: cannot prepare its infrastructure: %s", run.name, exc)
            self._propose(run.id, "CRASHED", f"Flow run could not be submitted to infrastructure: {exc}")
            return
        active.infrastructure = infrastructure
        logger.info("Starting flow run %s (%s) on %s", run.name, run.id, infrastructure.block_type_slug)
        try:
            result = infrastructure.run(on_started=lambda identifier: self._started(active, identifier))
        except SluiceError as exc:
            logger.error("flow run %s: infrastructure failed: %s", run.name, exc)
            self._propose(run.id, "CRASHED", f"Flow run infrastructure failed to start: {exc}")
            return
        self._after_exit(active, result.status_code)

    def _through_outage(self, read: Callable[[], T]) -> T:
        """``read()``, retried while the API cannot be reached, for ``SLUICE_ENGINE_START_TIMEOUT``.

        Raises ``SluiceError`` when the API did not answer in time, ``GaveUp`` when the agent stops.
        """
        from sluice.errors import APIUnavailable

        deadline = time.monotonic() + self.settings.engine_start_timeout
        try:
            return retry(
                read,
                APIUnavailable,
                deadline=deadline,
                stop=self._stopping,
                on_retry=lambda exc, delay: logger.warning("%s; retrying in %.1fs", exc, delay),
            )
        except GaveUp as exc:
            if self._stopping.is_set():
                raise
            raise SluiceError(f"the API did not answer within SLUICE_ENGINE_START_TIMEOUT ({exc})") from None

    def _started(self, active: ActiveRun, identifier: str) -> None:
        active.identifier = identifier
        try:
            self._client.update_flow_run(active.flow_run.id, infrastructure_pid=identifier)
        except SluiceError as exc:
            logger.warning("flow run %s: cannot record infrastructure id %s: %s", active.flow_run.id, identifier, exc)
        if active.cancel_requested or active.handed_back:
            self._kill(active)

    def _after_exit(self, active: ActiveRun, status_code: int) -> None:
        """Tell the API what the end of the run's infrastructure means (now, or once it answers)."""
        run = active.flow_run
        if active.handed_back:
            return
        try:
            self._outbox.report_exit(self._client, run.id, run.name, status_code)
        except SluiceError as exc:
            logger.error("flow run %s ended (exit code %s); cannot report it: %s", run.name, status_code, exc)

    def _kill(self, active: ActiveRun, grace_seconds: float = KILL_GRACE_SECONDS) -> None:
        if active.identifier is None or active.infrastructure is None:
            return
        try:
            active.infrastructure.kill(active.identifier, grace_seconds=grace_seconds)
        except InfrastructureNotFound:
            pass  # it ended on its own
        except SluiceError as exc:
            logger.error(
                "cannot stop the infrastructure %s of flow run %s: %s", active.identifier, active.flow_run.id, exc
            )

    def _hand_back(self, active: ActiveRun) -> None:
        """Kill the run's infrastructure (if it started) and set it SCHEDULED again for another agent."""
        from sluice.schemas import StateCreate

        active.handed_back = True
        active.woken.set()
        self._kill(active, grace_seconds=5.0)
        run = active.flow_run
        when = run.expected_start_time or datetime.now(UTC)
        state = StateCreate(type="SCHEDULED", name="Scheduled", scheduled_time=when, message="Handed back by an agent")
        try:
            self._client.set_flow_run_state(run.id, state, force=True)
            logger.info("Handed flow run %s back to its queue", run.name)
        except SluiceError as exc:
            logger.error("cannot hand flow run %s back: %s", run.id, exc)

    def _propose(self, flow_run_id: UUID, state_type: str, message: str) -> None:
        """Propose a state for one of the agent's runs, now or once the API answers (``AgentOutbox``)."""
        from sluice.runner import new_state

        state = new_state(state_type, message=message)
        try:
            self._outbox.report_state(self._client, flow_run_id, state, f"flow run {flow_run_id}: {state_type}")
        except SluiceError as exc:
            logger.error("cannot set flow run %s %s: %s", flow_run_id, state_type, exc)

    # -- heartbeats and cancellation -----------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        failing_since: float | None = None  # say it once per outage, not at every heartbeat
        while not self._stopping.wait(self.heartbeat_seconds):
            try:
                answer = self._client.agent_heartbeat(self.id)
            except ObjectNotFound:
                self._register()
                continue
            except SluiceError as exc:
                if failing_since is None and not self._stopping.is_set():
                    failing_since = time.monotonic()
                    logger.warning("heartbeat failed: %s (retrying every %gs)", exc, self.heartbeat_seconds)
                continue
            if failing_since is not None:
                logger.info("heartbeat answered again after %.0fs", time.monotonic() - failing_since)
                failing_since = None
            self._outbox.wake()  # the API answers again: what waits need not wait for its backoff
            for flow_run_id in answer.cancelling_flow_run_ids:
                self._cancel(flow_run_id)
            self._adopt_unheard(answer.pending_flow_run_ids)

    def _adopt_unheard(self, pending: list[UUID]) -> None:
        """Start the runs the server says this agent claimed but that it never heard of.

        Their claim's answer was lost on its way (a broken connection, a replica that died after its
        commit): nothing else would start them, since crash detection leaves a live agent's runs alone.
        Only a run unknown at two heartbeats in a row is adopted, so that one whose claim's answer is
        still on its way is not started twice.
        """
        if not self._adopting or self._stopping.is_set():
            return
        with self._lock:
            unknown = {flow_run_id for flow_run_id in pending if flow_run_id not in self._active}
        adopt, self._unheard = unknown & self._unheard, unknown
        for flow_run_id in sorted(adopt, key=str):
            try:
                run = self._client.read_flow_run(flow_run_id)
            except SluiceError as exc:
                logger.warning("cannot read flow run %s this agent claimed: %s", flow_run_id, exc)
                continue
            if run.state is None or run.state.type.value != "PENDING" or run.agent_id != self.id:
                continue  # it moved on meanwhile
            logger.warning(
                "Flow run %s was claimed by this agent, but the claim's answer never reached it; starting it now",
                run.name,
            )
            self._unheard.discard(flow_run_id)
            self._submit_all([run])

    def _cancel(self, flow_run_id: UUID) -> None:
        with self._lock:
            active = self._active.get(flow_run_id)
        if active is None:
            # Not running here (it ended, or this agent restarted): nothing to stop.
            self._propose(flow_run_id, "CANCELLED", "Cancelled: its infrastructure was no longer running.")
            return
        if active.cancel_requested:
            return
        active.cancel_requested = True
        active.woken.set()
        logger.info("Cancelling flow run %s", active.flow_run.name)
        threading.Thread(target=self._kill, args=(active,), name="sluice-agent-kill", daemon=True).start()
