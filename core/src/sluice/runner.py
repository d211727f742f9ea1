"""Running a flow as a recorded flow run: states, retries, timeout, logs, subflow links.

``run_flow`` is what calling a ``Flow`` does: it creates the run on the API (a subflow run when a
flow run is already in progress) and orchestrates it. ``orchestrate_flow_run`` runs an existing run
(the engine uses it for deployment runs): it validates the parameters, moves the run to RUNNING,
runs the body under the flow's timeout as many times as its retries allow (AwaitingRetry between
attempts), ships the logs and sets COMPLETED or FAILED.

States go through the process's reporter (``sluice.reporting``), each with an id and the time it
happened: RUNNING is retried through short outages (``SLUICE_ENGINE_START_TIMEOUT``); the others are
spooled while the API cannot be reached and delivered in order when it answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from sluice.context import FlowRunContext, flow_run_context, get_flow_run_context, get_task_run_context
from sluice.errors import FlowRunStopped, FlowTimeoutError, ParameterError, RunNotClaimable, RunNotStarted
from sluice.logging import flush_logs, run_logger_for
from sluice.parameters import bind_arguments, call_with_parameters, jsonable
from sluice.timeouts import timeout_after

if TYPE_CHECKING:  # pragma: no cover
    from sluice.flows import Flow


def failure_message(exc: BaseException) -> str:
    """The message a FAILED state carries for an exception."""
    from sluice.errors import FlowTimeoutError

    name = "TimeoutError" if isinstance(exc, FlowTimeoutError) else type(exc).__name__
    text = str(exc)
    return (
        f"Flow run encountered an exception. {name}: {text}" if text else f"Flow run encountered an exception. {name}"
    )


def run_flow(flow: Flow[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """Call ``flow`` as a new flow run (a subflow run inside another run) and return its result."""
    parameters = bind_arguments(flow.fn, args, kwargs)
    run = _create_run(flow, parameters)
    if get_flow_run_context() is not None:
        return orchestrate_flow_run(flow, run.id, run.name, parameters)
    try:
        return orchestrate_flow_run(flow, run.id, run.name, parameters)
    finally:
        wait_for_reports()  # a script's own run: its end is recorded before the script goes on


async def run_flow_async(flow: Flow[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """``run_flow`` for an async flow: a coroutine to await in the caller's event loop."""
    parameters = bind_arguments(flow.fn, args, kwargs)
    run = await asyncio.to_thread(_create_run, flow, parameters)
    if get_flow_run_context() is not None:
        return await orchestrate_flow_run_async(flow, run.id, run.name, parameters)
    try:
        return await orchestrate_flow_run_async(flow, run.id, run.name, parameters)
    finally:
        await asyncio.to_thread(wait_for_reports)


def _create_run(flow: Flow[..., Any], parameters: Mapping[str, Any]) -> Any:
    """Create the flow run on the API, linked to the flow run (and task run) calling it, if any."""
    from sluice.client import get_client

    parent = get_flow_run_context()
    calling_task = get_task_run_context()
    parent_flow_run_id = parent.flow_run_id if parent else None
    if calling_task is not None:
        # Inside a task: a subflow of the task's flow run, also on a remote worker (which then
        # records the subflow run itself, and needs the API for it).
        parent_flow_run_id = calling_task.flow_run_id
    with get_client() as client:
        flow_id = client.create_flow(flow.name).id
        return client.create_flow_run(
            flow_id=flow_id,
            parameters=jsonable(parameters),
            parent_flow_run_id=parent_flow_run_id,
            parent_task_run_id=calling_task.task_run_id if calling_task else None,
        )


def wait_for_reports() -> bool:
    """Wait until this process's spooled reports are delivered, at most ``SLUICE_ENGINE_REPORT_RETENTION``;
    True when nothing is left undelivered."""
    from sluice.reporting import get_reporter

    reporter = get_reporter()
    if not reporter.pending():
        return True
    return reporter.wait_delivered(time.monotonic() + reporter.retention)


def orchestrate_flow_run(
    flow: Flow[..., Any],
    flow_run_id: UUID,
    flow_run_name: str,
    parameters: Mapping[str, Any],
) -> Any:
    """Run an existing flow run of ``flow`` to its end; return the result or raise the flow's error.

    An async flow is run to completion in an event loop. Raises ``RunNotClaimable`` (without
    running anything) when the server refuses RUNNING because the run was claimed or finished elsewhere.
    """
    if flow.is_async:
        from sluice.tasks import run_coroutine_blocking

        return run_coroutine_blocking(orchestrate_flow_run_async(flow, flow_run_id, flow_run_name, parameters))
    from sluice.client import get_client

    logger = run_logger_for(flow_run_id, flow_run_name, flow.name)
    context = FlowRunContext(flow, flow_run_id, flow_run_name, dict(parameters), parent=get_flow_run_context())
    with get_client() as client:
        values = _validated(client, flow, flow_run_id, parameters, logger)
        context.task_runner = _start_task_runner(client, flow, flow_run_id, logger)
        try:
            _start(client, flow_run_id)
            with flow_run_context(context):
                result = _run_attempts(client, flow, flow_run_id, values, logger, context)
        except BaseException as exc:
            _ended_by(client, context, exc, logger)
            raise
        finally:
            _stop_task_runner(context, logger)
        _completed(client, flow_run_id, logger)
        return result


async def orchestrate_flow_run_async(
    flow: Flow[..., Any],
    flow_run_id: UUID,
    flow_run_name: str,
    parameters: Mapping[str, Any],
) -> Any:
    """``orchestrate_flow_run`` for an async flow, in the caller's event loop (API calls in threads)."""
    from sluice.client import get_client

    logger = run_logger_for(flow_run_id, flow_run_name, flow.name)
    context = FlowRunContext(flow, flow_run_id, flow_run_name, dict(parameters), parent=get_flow_run_context())
    with get_client() as client:
        values = await asyncio.to_thread(_validated, client, flow, flow_run_id, parameters, logger)
        context.task_runner = await asyncio.to_thread(_start_task_runner, client, flow, flow_run_id, logger)
        try:
            await asyncio.to_thread(_start, client, flow_run_id)
            with flow_run_context(context):
                result = await _run_attempts_async(client, flow, flow_run_id, values, logger, context)
        except BaseException as exc:
            await asyncio.to_thread(_ended_by, client, context, exc, logger)
            raise
        finally:
            await asyncio.to_thread(_stop_task_runner, context, logger)
        await asyncio.to_thread(_completed, client, flow_run_id, logger)
        return result


def _validated(client: Any, flow: Flow[..., Any], flow_run_id: UUID, parameters: Mapping[str, Any], logger: Any) -> Any:
    """The parameters checked and coerced; invalid ones end the run FAILED and raise ``ParameterError``."""
    try:
        return flow.validate_parameters(dict(parameters)) if flow.should_validate_parameters else parameters
    except ParameterError as exc:
        logger.error("Validation of flow parameters failed: %s", exc)
        set_state(client, flow_run_id, "FAILED", message=f"Validation of flow parameters failed: {exc}")
        flush_logs()
        raise


def _start_task_runner(client: Any, flow: Flow[..., Any], flow_run_id: UUID, logger: Any) -> Any:
    """The flow's task runner, copied for this run and started; one that cannot start fails the run."""
    from sluice.task_runners import resolve_task_runner

    try:
        runner = resolve_task_runner(flow.task_runner).duplicate()
        runner.start()
    except Exception as exc:
        message = f"Task runner could not start: {type(exc).__name__}: {exc}"
        logger.error("%s", message)
        set_state(client, flow_run_id, "FAILED", message=message)
        flush_logs()
        raise
    return runner


def _stop_task_runner(context: FlowRunContext, logger: Any) -> None:
    """Shut the run's task runner down; task runs still going (the flow was stopped) are CRASHED."""
    from sluice.task_engine import crash_unfinished
    from sluice.task_run_recorder import flush_task_runs

    crash_unfinished(context, "its flow run ended before it did")
    flush_task_runs()
    runner = context.task_runner
    if runner is None:
        return
    try:
        runner.shutdown()
    except Exception as exc:  # the run's outcome is decided: a runner failing to stop only gets a line
        logger.warning("Task runner %s did not shut down cleanly: %s: %s", runner.describe(), type(exc).__name__, exc)


def _ended_by(client: Any, context: FlowRunContext, exc: BaseException, logger: Any) -> None:
    """Record how the run ended when its body (or its start) raised ``exc``."""
    from sluice.task_engine import crash_unfinished
    from sluice.task_runners import format_user_traceback

    if isinstance(exc, RunNotClaimable | RunNotStarted):
        return  # it never ran here: nothing of ours to record
    crash_unfinished(context, f"its flow run ended first ({type(exc).__name__})")
    _flush_reports()
    if isinstance(exc, FlowRunStopped):
        # Stopped from outside (its run ended elsewhere, its agent is gone): whoever stopped it reports
        # the run's end; a subflow run's, which nothing else watches, is reported here.
        logger.warning("Flow run stopped: %s", exc)
        flush_logs()
        if context.parent is not None:
            message = f"Crashed: its flow process was stopped ({exc})."
            set_state(client, context.flow_run_id, "CRASHED", message=message)
        return
    # an interrupt is not the flow's failure: the run crashed
    state = "FAILED" if isinstance(exc, Exception) else "CRASHED"
    logger.error("Finished in state %s: %s\n%s", state.title(), failure_message(exc), format_user_traceback(exc))
    _flush_reports()
    set_state(client, context.flow_run_id, state, message=failure_message(exc))


def _completed(client: Any, flow_run_id: UUID, logger: Any) -> None:
    logger.info("Finished in state Completed()")
    _flush_reports()
    set_state(client, flow_run_id, "COMPLETED", message="All states completed.")


def _flush_reports() -> None:
    """Send the buffered task runs and logs, so that they are recorded before the run's final state."""
    from sluice.task_run_recorder import flush_task_runs

    flush_task_runs()
    flush_logs()


def _body_finished(context: FlowRunContext, first: int, result: Any) -> None:
    """After the body returned: wait for the task runs it submitted; a body returning None whose
    submitted task runs did not all complete fails (as in Prefect 2)."""
    from sluice.task_engine import failed_task_runs, wait_for_task_runs
    from sluice.task_runners import TaskRunsFailed

    executions = wait_for_task_runs(context, first)
    failed = failed_task_runs(executions)
    if result is None and failed:
        names = ", ".join(repr(execution.record.name) for execution in failed[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        raise TaskRunsFailed(f"{len(failed)} of {len(executions)} submitted task runs failed: {names}{more}")


def _attempt_failed(
    client: Any, flow: Flow[..., Any], flow_run_id: UUID, exc: Exception, attempt: int, logger: Any
) -> float:
    """Log and record a failed attempt that will be retried; the delay before the next one."""
    from sluice.task_runners import format_user_traceback

    delay = flow.retry_delay_seconds
    logger.warning(
        "Attempt %d of %d failed: %s. Retrying in %gs.\n%s",
        attempt,
        flow.retries + 1,
        failure_message(exc),
        delay,
        format_user_traceback(exc),
    )
    _flush_reports()
    retry_at = datetime.now(UTC) + timedelta(seconds=delay)
    set_state(client, flow_run_id, "SCHEDULED", name="AwaitingRetry", scheduled_time=retry_at)
    return delay


def _run_attempts(
    client: Any,
    flow: Flow[..., Any],
    flow_run_id: UUID,
    values: Mapping[str, Any],
    logger: Any,
    context: FlowRunContext,
) -> Any:
    from sluice.task_engine import wait_for_task_runs

    attempt = 1
    while True:
        first = len(context.executions)
        try:
            with timeout_after(flow.timeout_seconds, what=f"Flow run of {flow.name!r}"):
                try:
                    result = call_with_parameters(flow.fn, values)
                except FlowTimeoutError:
                    raise
                except Exception:
                    wait_for_task_runs(context, first)  # the tasks it started end before the attempt does
                    raise
                _body_finished(context, first, result)
                return result
        except Exception as exc:
            if attempt > flow.retries:
                raise
            delay = _attempt_failed(client, flow, flow_run_id, exc, attempt, logger)
            if delay:
                time.sleep(delay)
            _start(client, flow_run_id)
            attempt += 1


async def _run_attempts_async(
    client: Any,
    flow: Flow[..., Any],
    flow_run_id: UUID,
    values: Mapping[str, Any],
    logger: Any,
    context: FlowRunContext,
) -> Any:
    from sluice.task_engine import wait_for_task_runs

    attempt = 1
    while True:
        first = len(context.executions)
        try:
            try:
                async with asyncio.timeout(flow.timeout_seconds) as scope:
                    try:
                        result = await call_with_parameters(flow.fn, values)
                    except Exception:
                        await asyncio.to_thread(wait_for_task_runs, context, first)
                        raise
                    await asyncio.to_thread(_body_finished, context, first, result)
                    return result
            except TimeoutError:
                if scope.expired():
                    raise FlowTimeoutError(
                        f"Flow run of {flow.name!r} exceeded its timeout of {flow.timeout_seconds:g} seconds"
                    ) from None
                raise
        except Exception as exc:
            if attempt > flow.retries:
                raise
            delay = await asyncio.to_thread(_attempt_failed, client, flow, flow_run_id, exc, attempt, logger)
            if delay:
                await asyncio.sleep(delay)
            await asyncio.to_thread(_start, client, flow_run_id)
            attempt += 1


def _start(client: Any, flow_run_id: UUID) -> None:
    """Set RUNNING, retrying through a short outage; refused or unreachable: the flow must not run."""
    from sluice.backoff import GaveUp
    from sluice.reporting import get_reporter

    reporter = get_reporter()
    deadline = time.monotonic() + reporter.start_timeout
    try:
        result = reporter.start_state(client, flow_run_id, new_state("RUNNING"), deadline)
    except GaveUp as exc:
        raise RunNotStarted(
            f"flow run {flow_run_id} cannot start: the API did not answer within SLUICE_ENGINE_START_TIMEOUT ({exc})"
        ) from None
    if result.status != "ACCEPT":
        current = result.state.type if result.state is not None else "unknown"
        raise RunNotClaimable(
            f"flow run {flow_run_id} cannot start: the server refused RUNNING (current state {current}; "
            f"{result.reason or 'it was claimed or finished elsewhere'})"
        )


def new_state(
    state_type: str, name: str | None = None, message: str | None = None, scheduled_time: datetime | None = None
) -> Any:
    """A ``StateCreate`` with an id of its own and the time it happened (now), as every report carries."""
    from sluice.schemas import StateCreate

    return StateCreate(
        type=state_type,
        name=name,
        message=message and message[:10_000],
        scheduled_time=scheduled_time,
        id=uuid4(),
        timestamp=datetime.now(UTC),
    )


def set_state(
    client: Any,
    flow_run_id: UUID,
    state_type: str,
    name: str | None = None,
    message: str | None = None,
    scheduled_time: datetime | None = None,
) -> Any:
    """Propose a state through the process's reporter: the API's answer, or None when it was spooled
    (the API cannot be reached; it is delivered later, after the reports made before it)."""
    from sluice.reporting import get_reporter

    state = new_state(state_type, name, message, scheduled_time)
    return get_reporter().propose_state(client, flow_run_id, state)
