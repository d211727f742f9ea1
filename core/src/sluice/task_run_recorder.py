"""Recording task runs on the API in batches: creations and state changes, buffered and sent in bulk.

A flow with 10,000 tasks must not make 30,000 API calls. The engine hands every task-run creation
and state change to the process's ``TaskRunRecorder``; it sends them through the reporter
(``sluice.reporting``: spooled to disk while the API is away) as ``POST /api/task_runs/bulk``
requests of up to ``MAX_TASK_RUN_BATCH`` creations and as many state changes — when a batch is full,
at the latest ``FLUSH_INTERVAL_SECONDS`` after its first item (a daemon thread), and whenever a flow
run ends (``flush()``, before its own final state). Each item carries the id and time the engine
gave it, so a batch sent again is stored once and with the real times.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

#: A pending batch is sent at the latest this many seconds after its first item.
FLUSH_INTERVAL_SECONDS = 1.0

Sender = Callable[[list[dict[str, Any]], list[dict[str, Any]]], None]


def _send_with_reporter(task_runs: list[dict[str, Any]], states: list[dict[str, Any]]) -> None:
    from sluice.reporting import get_reporter

    get_reporter().report_task_runs(task_runs, states)


class TaskRunRecorder:
    """Buffers task-run creations and state changes and sends them in order, in bulk.

    :param send: sends one batch (default: through the process's reporter).
    :param batch_size: most creations, and most state changes, in one batch.
    """

    def __init__(self, send: Sender | None = None, batch_size: int | None = None) -> None:
        from sluice.schemas.task_runs import MAX_TASK_RUN_BATCH

        self._send = send or _send_with_reporter
        self.batch_size = min(batch_size or MAX_TASK_RUN_BATCH, MAX_TASK_RUN_BATCH)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        #: ("task_run" | "state", JSON-ready item), in the order they happened.
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._counts = {"task_run": 0, "state": 0}
        self._oldest: float | None = None
        self._flusher: threading.Thread | None = None
        self._warned = False

    def create(self, task_run: Any) -> None:
        """Record a new task run (a ``TaskRunCreate``, with its id and first state)."""
        self.create_item(task_run.model_dump(mode="json", exclude_none=True))

    def set_state(self, task_run_id: UUID, state: Any) -> None:
        """Record a state change (a ``StateCreate`` with its id and time) of a task run."""
        self.set_state_item(task_run_id, state.model_dump(mode="json", exclude_none=True))

    def create_item(self, task_run: dict[str, Any]) -> None:
        """Record a new task run given as the JSON of a ``TaskRunCreate`` (the engine's fast path)."""
        self._add("task_run", task_run)

    def set_state_item(self, task_run_id: UUID, state: dict[str, Any]) -> None:
        """Record a state change given as the JSON of a ``StateCreate`` (the engine's fast path)."""
        self._add("state", {"task_run_id": str(task_run_id), "state": state})

    def _add(self, kind: str, item: dict[str, Any]) -> None:
        with self._lock:
            self._pending.append((kind, item))
            self._counts[kind] += 1
            if self._oldest is None:
                self._oldest = time.monotonic()
            due = self._counts[kind] >= self.batch_size
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_periodically, name="sluice-task-runs", daemon=True)
                self._flusher.start()
        if due:
            self.flush()

    def _flush_periodically(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL_SECONDS / 4)
            with self._lock:
                due = self._oldest is not None and time.monotonic() - self._oldest >= FLUSH_INTERVAL_SECONDS
            if due:
                self.flush()

    def pending(self) -> int:
        """How many creations and state changes wait to be sent."""
        with self._lock:
            return len(self._pending)

    def flush(self) -> None:
        """Send everything buffered now, in order, in batches the server accepts.

        A batch the API cannot take now is spooled by the reporter; any other failure is reported
        once on stderr and does not fail the flow: task runs are a record of the run, not part of it.
        """
        with self._send_lock:
            with self._lock:
                items, self._pending, self._oldest = self._pending, [], None
                self._counts = {"task_run": 0, "state": 0}
            for task_runs, states in self._batches(items):
                try:
                    self._send(task_runs, states)
                except Exception as exc:
                    if not self._warned:
                        self._warned = True
                        print(f"sluice: could not record task runs on the API: {exc}", file=sys.stderr)

    def _batches(self, items: list[tuple[str, dict[str, Any]]]) -> list[tuple[list[Any], list[Any]]]:
        """Cut ``items`` in order: a state never travels before the creation of its task run."""
        batches: list[tuple[list[Any], list[Any]]] = []
        task_runs: list[dict[str, Any]] = []
        states: list[dict[str, Any]] = []
        for kind, item in items:
            if len(task_runs) >= self.batch_size or len(states) >= self.batch_size:
                batches.append((task_runs, states))
                task_runs, states = [], []
            (task_runs if kind == "task_run" else states).append(item)
        if task_runs or states:
            batches.append((task_runs, states))
        return batches


_recorder: TaskRunRecorder | None = None
_setup_lock = threading.Lock()


def get_task_run_recorder() -> TaskRunRecorder:
    """The process-wide task-run recorder."""
    global _recorder
    if _recorder is None:
        with _setup_lock:
            if _recorder is None:
                _recorder = TaskRunRecorder()
    return _recorder


def flush_task_runs() -> None:
    """Send every buffered task-run creation and state change now."""
    if _recorder is not None:
        _recorder.flush()
