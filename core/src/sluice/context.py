"""The run context: which flow run, and which task run, the current code belongs to (``ContextVar``s,
so threads and subflows each see their own).

A task submitted to a thread runs in a copy of the context it was submitted from; a task on a
remote worker (Dask) gets a ``TaskRunContext`` alone, with what its logger needs.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:  # pragma: no cover
    from sluice.flows import Flow
    from sluice.task_runners import TaskRunner


@dataclass
class FlowRunContext:
    """What code running inside a flow run can know about it."""

    flow: Flow
    flow_run_id: UUID
    flow_run_name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    parent: FlowRunContext | None = None
    #: The run's task runner (started for the run), or None before it starts.
    task_runner: TaskRunner | None = None
    #: Every task run submitted in this run (``sluice.task_engine.TaskRunExecution``), to wait for at its end.
    executions: list[Any] = field(default_factory=list)
    _counters: dict[str, Iterator[int]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def next_dynamic_key(self, task_key: str) -> str:
        """``"0"``, ``"1"``… : which call of the task ``task_key`` this is in the run (thread-safe)."""
        with self._lock:
            counter = self._counters.get(task_key)
            if counter is None:
                counter = self._counters[task_key] = itertools.count()
            return str(next(counter))

    def add_execution(self, execution: Any) -> None:
        """Remember a submitted task run, so that the flow run waits for it before it ends."""
        with self._lock:
            self.executions.append(execution)


@dataclass
class TaskRunContext:
    """What code running inside a task run can know about it (also on a remote worker)."""

    task_run_id: UUID
    task_run_name: str
    #: True for a coroutine function: calls it makes of async flows and tasks return coroutines.
    is_async: bool
    flow_run_id: UUID
    flow_run_name: str
    flow_name: str
    #: Where log records go when no engine is in this process (a remote worker): they travel back
    #: with the attempt's outcome and the engine ships them. None: ship them as usual.
    captured_logs: list[dict[str, Any]] | None = None


_current: ContextVar[FlowRunContext | None] = ContextVar("sluice_flow_run", default=None)
_current_task: ContextVar[TaskRunContext | None] = ContextVar("sluice_task_run", default=None)


def get_flow_run_context() -> FlowRunContext | None:
    """The context of the flow run the caller is inside, or None outside any flow run."""
    return _current.get()


def get_task_run_context() -> TaskRunContext | None:
    """The context of the task run the caller is inside, or None outside any task run."""
    return _current_task.get()


@contextmanager
def flow_run_context(context: FlowRunContext) -> Iterator[FlowRunContext]:
    """Make ``context`` the current flow run inside the ``with`` block (and no task run current)."""
    token = _current.set(context)
    task_token = _current_task.set(None)
    try:
        yield context
    finally:
        _current_task.reset(task_token)
        _current.reset(token)


@contextmanager
def task_run_context(context: TaskRunContext) -> Iterator[TaskRunContext]:
    """Make ``context`` the current task run inside the ``with`` block."""
    token = _current_task.set(context)
    try:
        yield context
    finally:
        _current_task.reset(token)
