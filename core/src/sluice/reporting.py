"""Reporting flow runs through outages: states, task runs and log batches delivered in order, spooled meanwhile.

Every state a flow run proposes, every batch of its task runs' creations and state changes
(``sluice.task_run_recorder``) and every batch of its logs goes through the process's ``Reporter``.
While the API answers and nothing waits, a report is sent at once, as before. When the API cannot
be reached (a refused connection, a timeout, a 502/503/504), the report — and every later one, so
they stay in order — is written to a spool on local disk (``$SLUICE_HOME/outbox/flow-runs/<run>``)
and a thread delivers the spool with backoff until the API answers. Each state carries its own id
and the time it happened, each log record an id of its own, so a report sent again after a lost
answer is stored once, with its real time.

Starting a run cannot wait: RUNNING is delivered at once, retried through short outages until a
deadline (``SLUICE_ENGINE_START_TIMEOUT``). A finished run's process waits for its reports to be
delivered (``wait_delivered``), at most ``SLUICE_ENGINE_REPORT_RETENTION``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from sluice.backoff import Backoff, GaveUp, retry
from sluice.errors import APIUnavailable, ObjectNotFound
from sluice.spool import Entry, Spool, SpoolSender

T = TypeVar("T")

#: Final states: a run that proposed one is ending, and its watchdog stands down.
FINAL_STATE_TYPES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})


def say(message: str, prefix: str = "sluice") -> None:
    """One line on stderr, where the engine's output goes (the agent streams it to its log).

    Never raises: when the agent that read the output died, the pipe is broken, and what the line
    says must happen anyway.
    """
    try:
        print(f"{prefix}: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def state_entry(flow_run_id: UUID | str, state: Any, force: bool = False) -> Entry:
    """The spool entry of a proposed state (a ``StateCreate``)."""
    entry: Entry = {"kind": "state", "flow_run_id": str(flow_run_id), "state": state.model_dump(mode="json")}
    if force:
        entry["force"] = True
    return entry


def logs_entry(records: list[dict[str, Any]]) -> Entry:
    """The spool entry of a batch of log records (each with its ``client_id``)."""
    return {"kind": "logs", "records": records}


def task_runs_entry(task_runs: list[dict[str, Any]], states: list[dict[str, Any]]) -> Entry:
    """The spool entry of a batch of task-run creations and state changes (JSON-ready, each with its id)."""
    return {"kind": "task_runs", "task_runs": task_runs, "states": states}


def deliver_with(client: Any, entry: Entry) -> None:
    """Send one state or logs entry with ``client``.

    Any answer to a state delivers it (an ACCEPT, or a REJECT saying the run moved on); a deleted
    run makes the entry moot. ``APIUnavailable`` propagates: try again later.
    """
    from sluice.schemas import StateCreate

    try:
        if entry["kind"] == "state":
            state = StateCreate.model_validate(entry["state"])
            client.set_flow_run_state(entry["flow_run_id"], state, force=entry.get("force", False))
        elif entry["kind"] == "logs":
            client.create_logs(entry["records"])
        elif entry["kind"] == "task_runs":
            client.report_task_runs(entry["task_runs"], entry["states"])
        else:
            raise ValueError(f"unknown report kind {entry['kind']!r}")
    except ObjectNotFound:
        pass  # the run was deleted meanwhile: nothing left to tell


def deliver_report(entry: Entry) -> None:
    """Send one spooled state or logs entry with a client for the current settings."""
    from sluice.client import get_client

    with get_client() as client:
        deliver_with(client, entry)


class Reporter:
    """Sends a process's flow-run reports in the order they are made, spooling them while the API is away.

    :param spool: where reports wait while the API cannot be reached.
    :param deliver: sends one spooled entry (default: with a client for the current settings).
    :param start_timeout: seconds ``_start`` callers retry RUNNING (``SLUICE_ENGINE_START_TIMEOUT``).
    :param retention: seconds a finished run waits for its reports (``SLUICE_ENGINE_REPORT_RETENTION``).
    """

    def __init__(
        self,
        spool: Spool,
        deliver: Callable[[Entry], None] = deliver_report,
        backoff: Backoff | None = None,
        start_timeout: float = 120.0,
        retention: float = 3600.0,
    ) -> None:
        self.spool = spool
        self.start_timeout = start_timeout
        self.retention = retention
        self.backoff = backoff or Backoff(maximum=5.0)
        self.sender = SpoolSender(spool, deliver, self.backoff, name="sluice-reports")
        self._lock = threading.RLock()
        self._spooling = False
        self.proposed: dict[str, Any] = {}

    # -- reports --------------------------------------------------------------------------------

    def propose_state(self, client: Any, flow_run_id: UUID | str, state: Any, force: bool = False) -> Any:
        """Propose ``state`` for the run: the API's answer (``SetStateResult``), or None when it was spooled."""
        self.proposed[str(flow_run_id)] = state
        return self._send_or_spool(
            state_entry(flow_run_id, state, force),
            lambda: client.set_flow_run_state(flow_run_id, state, force=force),
        )

    def ship_logs(self, records: list[dict[str, Any]]) -> None:
        """Send a batch of log records (each with its ``client_id``), or spool it."""
        from sluice.client import get_client

        def send() -> None:
            with get_client() as client:
                client.create_logs(records)

        self._send_or_spool(logs_entry(records), send)

    def report_task_runs(self, task_runs: list[dict[str, Any]], states: list[dict[str, Any]]) -> None:
        """Send a batch of task-run creations and state changes (``POST /api/task_runs/bulk``), or spool it."""
        from sluice.client import get_client

        def send() -> None:
            with get_client() as client:
                client.report_task_runs(task_runs, states)

        self._send_or_spool(task_runs_entry(task_runs, states), send)

    def start_state(self, client: Any, flow_run_id: UUID | str, state: Any, deadline: float) -> Any:
        """Deliver ``state`` now, after every earlier report, retrying until ``deadline``; its answer.

        For RUNNING, whose answer decides whether the flow runs at all. Raises ``GaveUp`` when the
        API did not answer in time.
        """
        self.proposed[str(flow_run_id)] = state
        with self._lock:
            if len(self.spool):
                self.sender.wake()
                if not self.sender.wait_empty(deadline):
                    raise GaveUp(f"earlier reports of flow run {flow_run_id} could not be delivered in time")
            return retry(
                lambda: client.set_flow_run_state(flow_run_id, state),
                APIUnavailable,
                self.backoff,
                deadline=deadline,
                on_retry=lambda exc, delay: self._note_outage(exc, until=deadline),
            )

    def is_ending(self, flow_run_id: UUID | str) -> bool:
        """True once the run proposed a final state (COMPLETED, FAILED, CANCELLED, CRASHED)."""
        state = self.proposed.get(str(flow_run_id))
        return state is not None and str(getattr(state.type, "value", state.type)) in FINAL_STATE_TYPES

    # -- waiting --------------------------------------------------------------------------------

    def pending(self) -> int:
        """How many reports wait in the spool."""
        return len(self.spool)

    def wait_delivered(self, deadline: float) -> bool:
        """Wait until every spooled report is delivered (True) or ``deadline`` passed (False), saying so."""
        waiting = self.pending()
        if not waiting:
            return True
        until = datetime.now().astimezone() + timedelta(seconds=max(0.0, deadline - time.monotonic()))
        error = self.sender.last_error
        say(
            f"{waiting} report(s) (states and logs) wait for the API"
            + (f" ({error})" if error else "")
            + f"; retrying until {until:%Y-%m-%d %H:%M:%S} (SLUICE_ENGINE_REPORT_RETENTION); "
            f"they are kept in {self.spool.folder}"
        )
        self.sender.wake()
        delivered = self.sender.wait_empty(deadline)
        if delivered:
            say("every report was delivered")
        else:
            say(f"gave up: {self.pending()} report(s) not delivered; they are left in {self.spool.folder}")
        return delivered

    def close(self) -> None:
        """Stop the delivery thread (spooled reports stay on disk)."""
        self.sender.stop()

    # -- plumbing -------------------------------------------------------------------------------

    def _send_or_spool(self, entry: Entry, send: Callable[[], T]) -> T | None:
        with self._lock:
            if not len(self.spool):
                try:
                    result = send()
                    self._spooling = False
                    return result
                except APIUnavailable as exc:
                    self.spool.append(entry)  # on disk before saying so
                    self._note_outage(exc)
                    self.sender.wake()
                    return None
            self.spool.append(entry)
        self.sender.wake()
        return None

    def _note_outage(self, exc: BaseException, until: float | None = None) -> None:
        if self._spooling:
            return
        self._spooling = True
        if until is None:
            say(f"{exc}; reports are kept in {self.spool.folder} and sent when it answers")
        else:
            left = max(0.0, until - time.monotonic())
            say(f"{exc}; retrying for up to {left:.0f}s (SLUICE_ENGINE_START_TIMEOUT)")


_reporters: dict[Path, Reporter] = {}
_reporters_lock = threading.Lock()
_folder_name: str | None = None
_engine_reporter: Reporter | None = None


def outbox_folder(home: Path, flow_run_id: UUID | str) -> Path:
    """Where the engine of ``flow_run_id`` spools its reports (the agent on the same host looks there too)."""
    return home / "outbox" / "flow-runs" / str(flow_run_id)


def use_spool_of(flow_run_id: UUID | str) -> None:
    """Make this process spool into the folder of the run it executes (the engine calls it first)."""
    global _folder_name, _engine_reporter
    _folder_name = str(flow_run_id)
    _engine_reporter = None


def get_reporter() -> Reporter:
    """The process's reporter for the current ``SLUICE_HOME`` (the engine's: the one of its run)."""
    from sluice.settings import get_settings

    if _folder_name is not None and _engine_reporter is not None:
        return _engine_reporter  # the engine's home does not change: skip reading the settings
    settings = get_settings()
    name = _folder_name or f"process-{os.getpid()}"
    folder = outbox_folder(settings.home, name)
    reporter = _reporters.get(folder)
    if reporter is None:
        with _reporters_lock:
            reporter = _reporters.get(folder)
            if reporter is None:
                reporter = _reporters[folder] = Reporter(
                    Spool(folder),
                    start_timeout=settings.engine_start_timeout,
                    retention=settings.engine_report_retention,
                )
    if _folder_name is not None:
        _set_engine_reporter(reporter)
    return reporter


def _set_engine_reporter(reporter: Reporter) -> None:
    global _engine_reporter
    _engine_reporter = reporter
