"""Running task runs inside a flow run: recording them, their attempts and retries, and their futures.

A task called directly runs at once in the caller's thread (``call_task``; ``call_task_async`` for a
coroutine function awaited in an async flow). A submitted task (``submit_task``) goes to the flow
run's task runner as ``TaskAttempt`` objects; a ``TaskRunExecution`` follows it from this process:
it waits for the futures given as arguments, records each state, retries failed attempts after
their delay and resolves the ``TaskFuture``. Wherever an attempt ran, its states are recorded here,
through the process's ``TaskRunRecorder`` (in batches, spooled through outages).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sluice.context import FlowRunContext, TaskRunContext, get_flow_run_context, get_task_run_context, task_run_context
from sluice.errors import ConfigurationError, FlowTimeoutError
from sluice.task_runners import (
    AttemptOutcome,
    TaskAttempt,
    TaskFuture,
    TaskRunCrashed,
    UpstreamTaskError,
    format_user_traceback,
)

if TYPE_CHECKING:  # pragma: no cover
    from sluice.schemas import State
    from sluice.tasks import Task

#: How deep ``submit``/call arguments are searched for futures (lists, tuples, sets, dict values).
MAX_ARGUMENT_DEPTH = 5


def task_key_of(fn: Callable[..., Any]) -> str:
    """A task's stable key: ``module.qualname`` (a flow file's stem stands for its module)."""
    module = getattr(fn, "__module__", None) or "?"
    if module.startswith("__sluice_flow_"):
        module = Path(fn.__code__.co_filename).stem
    return f"{module}.{getattr(fn, '__qualname__', getattr(fn, '__name__', '?'))}"


def failure_message(exc: BaseException) -> str:
    """The message a task run's FAILED state carries."""
    text = str(exc)
    name = type(exc).__name__
    return (
        f"Task run encountered an exception. {name}: {text}" if text else f"Task run encountered an exception. {name}"
    )


# -- recording -------------------------------------------------------------------------------------


def new_id() -> UUID:
    """A random (version 4) UUID from Python's fast generator: ids of records, not secrets."""
    return UUID(int=random.getrandbits(128), version=4)


class TaskRunRecord:
    """One task run as this process records it: created PENDING on construction, then each state.

    Thousands of these are made per flow run: the reports are built as plain JSON-ready dicts (the
    server validates them), and the ``State`` objects only when someone asks for ``state``.
    """

    def __init__(self, task: Task[..., Any], flow_context: FlowRunContext, task_inputs: dict[str, list[UUID]]) -> None:
        parent = get_task_run_context()
        self.id = new_id()
        self.task = task
        self.flow_context = flow_context
        self.dynamic_key = flow_context.next_dynamic_key(task.task_key)
        self.name = f"{task.name}-{self.dynamic_key}"
        self._last: dict[str, Any] | None = None
        self._logger: Any = None
        item: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name[:200],
            "flow_run_id": str(flow_context.flow_run_id),
            "task_key": task.task_key[:500],
            "dynamic_key": self.dynamic_key,
            "state": self._state("PENDING"),
        }
        if parent is not None:
            item["parent_task_run_id"] = str(parent.task_run_id)
        if task.tags:
            item["tags"] = list(task.tags)
        if task_inputs:
            item["task_inputs"] = {name: [str(value) for value in ids] for name, ids in task_inputs.items()}
        _recorder().create_item(item)

    @property
    def logger(self) -> Any:
        """The run logger of the flow run, marked with this task run."""
        if self._logger is None:
            from sluice.logging import run_logger_for

            context = self.flow_context
            self._logger = run_logger_for(
                context.flow_run_id, context.flow_run_name, context.flow.name, self.id, self.name
            )
        return self._logger

    @property
    def state(self) -> State | None:
        """The last state recorded (None before the first)."""
        if self._last is None:
            return None
        from sluice.schemas import State

        return State.model_validate(self._last)

    def _state(
        self, state_type: str, name: str | None = None, message: str | None = None, when: datetime | None = None
    ) -> dict[str, Any]:
        state: dict[str, Any] = {
            "type": state_type,
            "name": name or _DEFAULT_NAMES[state_type],
            "id": str(new_id()),
            "timestamp": (when or datetime.now(UTC)).isoformat(),
        }
        if message:
            state["message"] = message[:10_000]
        self._last = state
        return state

    def set_state(
        self, state_type: str, name: str | None = None, message: str | None = None, when: datetime | None = None
    ) -> None:
        """Record a new state (dated ``when``, default now)."""
        _recorder().set_state_item(self.id, self._state(state_type, name, message, when))


_DEFAULT_NAMES = {
    "PENDING": "Pending",
    "RUNNING": "Running",
    "COMPLETED": "Completed",
    "FAILED": "Failed",
    "CRASHED": "Crashed",
    "CANCELLED": "Cancelled",
    "SCHEDULED": "Scheduled",
}


def _recorder() -> Any:
    from sluice.task_run_recorder import get_task_run_recorder

    return get_task_run_recorder()


def _attempt_failed(record: TaskRunRecord, outcome: AttemptOutcome, attempt: int) -> float | None:
    """Log and record a failed attempt: the delay before the next one, or None when it was the last."""
    task = record.task
    exc = outcome.exception
    assert exc is not None
    attempts = task.retries + 1
    summary = f"{type(exc).__name__}: {exc}"
    if attempt < attempts:
        record.logger.warning(
            "Task %r attempt %d of %d failed: %s. Retrying in %gs.",
            task.name,
            attempt,
            attempts,
            summary,
            task.retry_delay_seconds,
        )
        record.set_state("SCHEDULED", name="AwaitingRetry", when=outcome.ended)
        return float(task.retry_delay_seconds)
    plural = "s" if attempt > 1 else ""
    record.logger.error(
        "Task %r failed after %d attempt%s: %s\n%s", task.name, attempt, plural, summary, _named_files(task, outcome)
    )
    record.set_state("FAILED", message=failure_message(exc), when=outcome.ended)
    return None


def _named_files(task: Task[..., Any], outcome: AttemptOutcome) -> str:
    """The attempt's traceback, with the task's file named where a remote worker could not know it
    (code sent by value, as flow files are, loses its file name on the way)."""
    text = outcome.traceback or ""
    filename = getattr(getattr(task.fn, "__code__", None), "co_filename", None)
    if filename and '"<dynamic-code>"' in text:
        text = text.replace('File "<dynamic-code>"', f'File "{filename}"')
    return text


def _attempt_completed(record: TaskRunRecord, outcome: AttemptOutcome, attempt: int) -> None:
    if attempt > 1:  # a first-time success is in the state history; a log line per task would cost more
        record.logger.info("Task %r completed (attempt %d of %d)", record.task.name, attempt, record.task.retries + 1)
    record.set_state("COMPLETED", when=outcome.ended)


def _crashed(record: TaskRunRecord, exc: BaseException) -> None:
    message = f"Task run crashed: {type(exc).__name__}: {exc}"
    record.logger.error("Task %r crashed: %s: %s", record.task.name, type(exc).__name__, exc)
    record.set_state("CRASHED", message=message)


# -- futures as arguments --------------------------------------------------------------------------


def _visit(value: Any, change: Callable[[TaskFuture[Any]], Any], depth: int = 0) -> Any:
    """``value`` with every ``TaskFuture`` in it replaced by ``change(future)``."""
    if isinstance(value, TaskFuture):
        return change(value)
    if depth >= MAX_ARGUMENT_DEPTH:
        return value
    if isinstance(value, list):
        return [_visit(item, change, depth + 1) for item in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_visit(item, change, depth + 1) for item in value)
    if isinstance(value, set | frozenset):
        return type(value)(_visit(item, change, depth + 1) for item in value)
    if isinstance(value, dict):
        return {key: _visit(item, change, depth + 1) for key, item in value.items()}
    return value


def futures_in(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[TaskFuture[Any]]:
    """Every ``TaskFuture`` among the arguments."""
    found: list[TaskFuture[Any]] = []

    def note(future: TaskFuture[Any]) -> TaskFuture[Any]:
        found.append(future)
        return future

    _visit((args, kwargs), note)
    return found


def task_inputs(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, list[UUID]]:
    """For each argument holding futures, the ids of their task runs (the run's upstream)."""
    try:
        named = inspect.signature(fn).bind_partial(*args, **kwargs).arguments
    except (TypeError, ValueError):
        named = {**{f"arg{index}": value for index, value in enumerate(args)}, **kwargs}
    inputs: dict[str, list[UUID]] = {}
    for name, value in named.items():
        ids = [future.task_run_id for future in futures_in((value,), {})]
        if ids:
            inputs[name] = ids
    return inputs


def resolve_futures(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments with each future replaced by its result (waiting for it).

    A future whose task run did not complete raises ``UpstreamTaskError`` naming it.
    """

    def result_of(future: TaskFuture[Any]) -> Any:
        try:
            return future._outcome(None, raise_on_failure=True)
        except Exception as exc:
            raise UpstreamTaskError(
                f"upstream task run {future.name!r} did not complete ({type(exc).__name__}: {exc})"
            ) from None

    resolved = _visit((args, kwargs), result_of)
    return resolved[0], resolved[1]


# -- direct calls ----------------------------------------------------------------------------------


def _new_record(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], upstream: list[TaskFuture[Any]]
) -> TaskRunRecord:
    context = get_flow_run_context()
    assert context is not None
    return TaskRunRecord(task, context, task_inputs(task.fn, args, kwargs) if upstream else {})


def call_task(task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run a task inside the current flow run, now, in this thread: its result, or its last error.

    Futures among the arguments are waited for and replaced by their results.
    """
    upstream = futures_in(args, kwargs)
    record = _new_record(task, args, kwargs, upstream)
    if upstream:
        try:
            args, kwargs = resolve_futures(args, kwargs)
        except UpstreamTaskError as exc:
            record.set_state("FAILED", name="NotReady", message=str(exc))
            raise
    attempt = 0
    while True:
        attempt += 1
        runnable = _attempt(record, args, kwargs, attempt, contextvars.copy_context())
        try:
            outcome = runnable()
        except BaseException as exc:  # the flow is stopped or timed out around the task
            _crashed(record, exc)
            raise
        if outcome.ok:
            _attempt_completed(record, outcome, attempt)
            return outcome.result
        delay = _attempt_failed(record, outcome, attempt)
        if delay is None:
            assert outcome.exception is not None
            raise outcome.exception
        if delay:
            threading.Event().wait(delay)


async def call_task_async(task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``call_task`` for a coroutine function, awaited in the caller's event loop."""
    upstream = futures_in(args, kwargs)
    record = _new_record(task, args, kwargs, upstream)
    if upstream:
        try:
            args, kwargs = await asyncio.to_thread(resolve_futures, args, kwargs)
        except UpstreamTaskError as exc:
            record.set_state("FAILED", name="NotReady", message=str(exc))
            raise
    flow_context = record.flow_context
    attempt = 0
    while True:
        attempt += 1
        outcome = AttemptOutcome(started=datetime.now(UTC), start_reported=True)
        record.set_state("RUNNING", when=outcome.started)
        context = TaskRunContext(
            record.id, record.name, True, flow_context.flow_run_id, flow_context.flow_run_name, flow_context.flow.name
        )
        try:
            with task_run_context(context):
                outcome.result = await task.fn(*args, **kwargs)
        except FlowTimeoutError as exc:
            _crashed(record, exc)
            raise
        except Exception as exc:
            outcome.exception = exc
            outcome.traceback = format_user_traceback(exc)
        except BaseException as exc:
            _crashed(record, exc)
            raise
        outcome.ended = datetime.now(UTC)
        if outcome.ok:
            _attempt_completed(record, outcome, attempt)
            return outcome.result
        delay = _attempt_failed(record, outcome, attempt)
        if delay is None:
            raise outcome.exception
        if delay:
            await asyncio.sleep(delay)


def _attempt(
    record: TaskRunRecord, args: tuple[Any, ...], kwargs: dict[str, Any], attempt: int, context: contextvars.Context
) -> TaskAttempt:
    flow_context = record.flow_context

    def started(when: datetime) -> None:
        record.set_state("RUNNING", when=when)

    return TaskAttempt(
        fn=record.task.fn,
        args=args,
        kwargs=kwargs,
        task_run_id=record.id,
        task_run_name=record.name,
        task_name=record.task.name,
        attempt=attempt,
        flow_run_id=flow_context.flow_run_id,
        flow_run_name=flow_context.flow_run_name,
        flow_name=flow_context.flow.name,
        context=context,
        on_start=started,
    )


# -- submitted tasks -------------------------------------------------------------------------------


class TaskRunExecution:
    """A submitted task run, followed from the engine's process until its ``TaskFuture`` resolves."""

    def __init__(
        self, task: Task[..., Any], flow_context: FlowRunContext, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.task = task
        self.flow_context = flow_context
        self.args = args
        self.kwargs = kwargs
        self.upstream = futures_in(args, kwargs)
        inputs = task_inputs(task.fn, args, kwargs) if self.upstream else {}
        self.record = TaskRunRecord(task, flow_context, inputs)
        self.final: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.context = contextvars.copy_context()
        self.attempt = 0
        self.future: TaskFuture[Any] = TaskFuture(
            self.record.id, self.record.name, self.final, lambda: self.record.state, asynchronous=_in_event_loop()
        )

    def start(self) -> None:
        """Submit the first attempt once every future among the arguments has ended."""
        upstream = self.upstream
        if not upstream:
            self._submit()
            return
        left = [len(upstream)]
        lock = threading.Lock()

        def one_done(_: TaskFuture[Any]) -> None:
            with lock:
                left[0] -= 1
                ready = left[0] == 0
            if ready:
                self._begin()

        for future in upstream:
            future.add_done_callback(one_done)

    def _begin(self) -> None:
        try:
            self.args, self.kwargs = resolve_futures(self.args, self.kwargs)
        except UpstreamTaskError as exc:
            self.record.set_state("FAILED", name="NotReady", message=str(exc))
            self.record.logger.error("Task %r was not run: %s", self.task.name, exc)
            self.final.set_exception(exc)
            return
        self._submit()

    def _submit(self) -> None:
        self.attempt += 1
        attempt = _attempt(self.record, self.args, self.kwargs, self.attempt, self.context)
        runner = self.flow_context.task_runner
        try:
            assert runner is not None
            submitted = runner.submit(attempt)
        except Exception as exc:
            self._crash(exc)
            return
        submitted.add_done_callback(self._attempt_done)

    def _attempt_done(self, submitted: concurrent.futures.Future[AttemptOutcome]) -> None:
        try:
            try:
                outcome = submitted.result()
            except BaseException as exc:  # the runner could not run it (a worker died, a pickling error)
                self._crash(exc)
                return
            self._record_outcome(outcome)
        except BaseException as exc:  # never leave the future unresolved
            if not self.final.done():
                self.final.set_exception(exc)

    def _record_outcome(self, outcome: AttemptOutcome) -> None:
        if outcome.logs:
            from sluice.logging import ship_captured_logs

            ship_captured_logs(outcome.logs)
        if not outcome.start_reported:
            self.record.set_state("RUNNING", when=outcome.started)
        if outcome.ok:
            _attempt_completed(self.record, outcome, self.attempt)
            self.final.set_result(outcome.result)
            return
        delay = _attempt_failed(self.record, outcome, self.attempt)
        if delay is None:
            self.final.set_exception(outcome.exception)
        elif delay:
            timer = threading.Timer(delay, self._submit)
            timer.daemon = True
            timer.start()
        else:
            self._submit()

    def _crash(self, exc: BaseException) -> None:
        _crashed(self.record, exc)
        if not self.final.done():
            error = TaskRunCrashed(f"task run {self.record.name!r} crashed: {type(exc).__name__}: {exc}")
            self.final.set_exception(error)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def submit_task(task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskFuture[Any]:
    """Submit a task run to the current flow run's task runner; its future.

    Raises ``ConfigurationError`` outside a flow run (or inside a task on a remote worker).
    """
    context = get_flow_run_context()
    if context is None or context.task_runner is None:
        raise ConfigurationError(
            f"{task.name}.submit() works inside a flow run only: call it in a function decorated with @flow "
            "(outside one, call the task directly)"
        )
    execution = TaskRunExecution(task, context, args, kwargs)
    context.add_execution(execution)
    execution.start()
    if context.task_runner.waits_for_each_task:
        concurrent.futures.wait([execution.final])
    return execution.future


def wait_for_task_runs(context: FlowRunContext, first: int = 0) -> list[TaskRunExecution]:
    """Wait until every task run submitted in the flow run from the ``first`` on has ended (those
    submitted meanwhile too); them.

    Waits in short slices, so that a flow's timeout or a stop signal still gets through.
    """
    waited = first
    while True:
        with context._lock:
            pending = context.executions[waited:]
        if not pending:
            with context._lock:
                return list(context.executions[first:])
        finals = [execution.final for execution in pending]
        while concurrent.futures.wait(finals, timeout=0.2).not_done:
            pass
        waited += len(pending)


def failed_task_runs(executions: list[TaskRunExecution]) -> list[TaskRunExecution]:
    """The submitted task runs that ended without completing."""
    return [execution for execution in executions if execution.final.exception() is not None]


def crash_unfinished(context: FlowRunContext, reason: str) -> None:
    """Record every submitted task run still going as CRASHED (its flow run ended without it)."""
    with context._lock:
        executions = list(context.executions)
    for execution in executions:
        if not execution.final.done():
            execution.record.set_state("CRASHED", message=f"Task run crashed: {reason}")
            execution.final.set_exception(TaskRunCrashed(f"task run {execution.record.name!r} crashed: {reason}"))
