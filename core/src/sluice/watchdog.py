"""The engine's watchdog: a flow whose agent is gone, or whose run ended elsewhere, stops itself.

A flow run's process must not outlive the reason it runs, or a retry of the run would run beside
it. ``python -m sluice.engine`` starts a ``Watchdog`` that stops the flow when:

- the **lifeline** closes: infrastructure that can (``process``) gives the engine the read end of a
  pipe whose write end only the agent holds (its number in ``SLUICE__LIFELINE_FD``); when the agent
  dies, even by ``kill -9``, the pipe closes. The run is reported CRASHED.
- the run is found **CRASHED, CANCELLED or CANCELLING** (or deleted) on the API, which it checks
  every ``SLUICE_ENGINE_WATCHDOG_SECONDS`` (any infrastructure). CANCELLING is reported CANCELLED;
  the others are final already.

Stopping is what cancelling does, from the inside: SIGTERM to the flow's processes (the engine's
process group when it leads one, else its children) and to the engine, whose handler raises
``FlowRunStopped`` in the flow (its ``finally`` blocks run, its logs are shipped); whatever is left
after ``KILL_GRACE_SECONDS`` gets SIGKILL — the engine too, if the flow would not stop. The run's end
(CRASHED, CANCELLED) is reported only once the flow has stopped, so a run never looks retryable while
its flow still works; an engine that had to be killed reports nothing (its agent or crash detection does).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from sluice.errors import APIUnavailable, FlowRunStopped, ObjectNotFound
from sluice.lifeline import KILL_GRACE_SECONDS, LIFELINE_FD_VARIABLE

_STOP_STATES = {"CRASHED", "CANCELLED", "CANCELLING"}


class Watchdog:
    """Watches one flow run from inside its engine and stops the flow when it must not go on.

    :param flow_run_id: the engine's run.
    :param interval: seconds between two checks of the run's state (0: no checks).
    :param lifeline_fd: the read end of the agent's lifeline, or None.
    :param reporter: the process's ``Reporter`` (the final state goes through it).
    """

    def __init__(
        self,
        flow_run_id: UUID,
        interval: float,
        lifeline_fd: int | None,
        reporter: Any,
        grace_seconds: float = KILL_GRACE_SECONDS,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.flow_run_id = flow_run_id
        self.interval = interval
        self.lifeline_fd = lifeline_fd
        self.reporter = reporter
        self.grace_seconds = grace_seconds
        self._client_factory = client_factory
        self.reason: str | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._unwound = threading.Event()
        self._stopped = threading.Event()
        self._raised = False
        self._previous_handler: Any = None

    @classmethod
    def for_engine(cls, flow_run_id: UUID, settings: Any) -> Watchdog:
        """The engine's watchdog, with the lifeline the infrastructure passed (if any)."""
        from sluice.reporting import get_reporter

        raw = os.environ.get(LIFELINE_FD_VARIABLE, "")
        lifeline = int(raw) if raw.isdigit() else None
        if lifeline is not None:
            try:
                os.set_inheritable(lifeline, False)  # the flow's own subprocesses must not hold it open
            except OSError:
                lifeline = None  # not an open descriptor here: nothing to watch
        return cls(flow_run_id, settings.engine_watchdog_seconds, lifeline, get_reporter())

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Handle SIGTERM (call from the main thread) and start watching."""
        self._previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
        if self.lifeline_fd is not None:
            threading.Thread(target=self._watch_lifeline, name="sluice-lifeline", daemon=True).start()
        if self.interval > 0:
            threading.Thread(target=self._watch_state, name="sluice-watchdog", daemon=True).start()

    def close(self) -> None:
        """Stop watching and give SIGTERM its previous handler back."""
        self._closed.set()
        if self._previous_handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_handler)
            self._previous_handler = None

    @property
    def stopping(self) -> bool:
        """True once the flow is being stopped."""
        return self.reason is not None

    def unwound(self) -> None:
        """The engine's main thread left the flow (after ``FlowRunStopped``): no need to kill the engine."""
        self._unwound.set()

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until the flow's other processes are gone (or were killed) and the run's end is reported
        (sent, or spooled); False on timeout. Call it after ``unwound``."""
        return self._stopped.wait(timeout)

    # -- what triggers a stop -------------------------------------------------------------------

    def _watch_lifeline(self) -> None:
        assert self.lifeline_fd is not None
        while not self._closed.is_set():
            try:
                data = os.read(self.lifeline_fd, 64)
            except InterruptedError:
                continue
            except OSError:
                return
            if not data:  # every write end closed: the agent is gone
                if not self._closed.is_set() and not self.reporter.is_ending(self.flow_run_id):
                    self.stop(
                        "its agent is gone (the lifeline from the agent closed)",
                        report=("CRASHED", "Crashed: its agent went away; the flow process stopped itself."),
                    )
                return

    def _watch_state(self) -> None:
        while not self._closed.wait(self.interval):
            if self.stopping or self.reporter.is_ending(self.flow_run_id):
                return
            from sluice.client import get_client  # here, not before the wait: the engine imports it first

            factory = self._client_factory or get_client
            try:
                with factory() as client:
                    state = client.read_flow_run(self.flow_run_id).state
            except ObjectNotFound:
                self.stop("its run was deleted")
                return
            except APIUnavailable:
                continue  # an outage is no reason to stop: the reports wait for the API too
            except Exception:
                continue
            if state is None or self.reporter.is_ending(self.flow_run_id):
                continue
            kind = state.type.value
            if kind in _STOP_STATES:
                report = None
                if kind == "CANCELLING":
                    report = ("CANCELLED", "Cancelled: the flow process stopped itself.")
                self.stop(f"its run is {kind} on the API ({state.message or state.name})", report=report)
                return

    # -- stopping -------------------------------------------------------------------------------

    def stop(self, reason: str, report: tuple[str, str] | None = None) -> None:
        """Stop the flow for ``reason``: report ``(state type, message)`` if given, SIGTERM, then SIGKILL."""
        from sluice.reporting import say

        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
        say(f"stopping flow run {self.flow_run_id}: {reason}")
        deadline = time.monotonic() + self.grace_seconds
        leader = os.getpgrp() == os.getpid()
        if not Path("/proc").is_dir() and leader:  # no way to list the group: signal all of it, the engine too
            os.killpg(os.getpgrp(), signal.SIGTERM)
        else:
            for pid in _other_processes(leader):
                _signal(pid, signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)  # the handler raises FlowRunStopped in the flow
        while _other_processes(leader) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in _other_processes(leader):
            _signal(pid, signal.SIGKILL)
        if not self._unwound.wait(max(0.0, deadline - time.monotonic())):
            say(f"the flow did not stop within {self.grace_seconds:g}s: killing its processes and the engine")
            if leader:
                os.killpg(os.getpgrp(), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
        # Only now, with the flow's processes gone: a run that looks ended may be retried at once, and
        # the retry must not run beside what is left of this execution (its clean-up, its children).
        if report is not None and not self.reporter.is_ending(self.flow_run_id):
            self._report(*report)
        self._stopped.set()

    def _report(self, state_type: str, message: str) -> None:
        from sluice.client import get_client
        from sluice.runner import new_state

        factory = self._client_factory or get_client
        try:
            with factory() as client:
                self.reporter.propose_state(client, self.flow_run_id, new_state(state_type, message=message))
        except Exception as exc:  # the run ends anyway: the agent or crash detection will record it
            from sluice.reporting import say

            say(f"cannot report flow run {self.flow_run_id} {state_type}: {exc}")

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        """Raise ``FlowRunStopped`` in the flow, once; a SIGTERM from outside not while the run reports its end."""
        if self._raised or (self.reason is None and self.reporter.is_ending(self.flow_run_id)):
            return
        self._raised = True
        raise FlowRunStopped(self.reason or "the engine received SIGTERM")


def _other_processes(leader: bool) -> list[int]:
    """The engine's process group but itself (when it leads one), else its children; [] without /proc."""
    me = os.getpid()
    found = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # fields after the parenthesised command name: state ppid pgrp ...
        fields = stat.rpartition(")")[2].split()
        if len(fields) < 3 or fields[0] in ("Z", "X"):
            continue
        if (leader and fields[2] == str(me)) or (not leader and fields[1] == str(me)):
            found.append(int(entry.name))
    return found


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
