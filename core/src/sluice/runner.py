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

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from sluice.context import FlowRunContext, flow_run_context, get_flow_run_context
from sluice.errors import FlowRunStopped, ParameterError, RunNotClaimable, RunNotStarted
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
    from sluice.client import get_client

    parameters = bind_arguments(flow.fn, args, kwargs)
    parent = get_flow_run_context()
    with get_client() as client:
        flow_id = client.create_flow(flow.name).id
        run = client.create_flow_run(
            flow_id=flow_id,
            parameters=jsonable(parameters),
            parent_flow_run_id=parent.flow_run_id if parent else None,
        )
    if parent is not None:
        return orchestrate_flow_run(flow, run.id, run.name, parameters)
    try:
        return orchestrate_flow_run(flow, run.id, run.name, parameters)
    finally:
        wait_for_reports()  # a script's own run: its end is recorded before the script goes on


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

    Raises ``RunNotClaimable`` (without running anything) when the server refuses RUNNING because
    the run was claimed or finished elsewhere.
    """
    from sluice.client import get_client

    logger = run_logger_for(flow_run_id, flow_run_name, flow.name)
    context = FlowRunContext(flow, flow_run_id, flow_run_name, dict(parameters), parent=get_flow_run_context())
    with get_client() as client:
        try:
            values = flow.validate_parameters(dict(parameters)) if flow.should_validate_parameters else parameters
        except ParameterError as exc:
            logger.error("Validation of flow parameters failed: %s", exc)
            set_state(client, flow_run_id, "FAILED", message=f"Validation of flow parameters failed: {exc}")
            flush_logs()
            raise
        _start(client, flow_run_id)
        try:
            with flow_run_context(context):
                result = _run_attempts(client, flow, flow_run_id, values, logger)
        except FlowRunStopped as exc:
            # Stopped from outside (its run ended elsewhere, its agent is gone): whoever stopped it reports
            # the run's end; a subflow run's, which nothing else watches, is reported here.
            logger.warning("Flow run stopped: %s", exc)
            flush_logs()
            if context.parent is not None:
                set_state(client, flow_run_id, "CRASHED", message=f"Crashed: its flow process was stopped ({exc}).")
            raise
        except BaseException as exc:
            # an interrupt is not the flow's failure: the run crashed
            state = "FAILED" if isinstance(exc, Exception) else "CRASHED"
            logger.error("Finished in state %s: %s", state.title(), failure_message(exc))
            flush_logs()
            set_state(client, flow_run_id, state, message=failure_message(exc))
            raise
        logger.info("Finished in state Completed()")
        flush_logs()
        set_state(client, flow_run_id, "COMPLETED", message="All states completed.")
        return result


def _run_attempts(client: Any, flow: Flow[..., Any], flow_run_id: UUID, values: Mapping[str, Any], logger: Any) -> Any:
    attempt = 1
    while True:
        try:
            with timeout_after(flow.timeout_seconds, what=f"Flow run of {flow.name!r}"):
                return call_with_parameters(flow.fn, values)
        except Exception as exc:
            if attempt > flow.retries:
                raise
            delay = flow.retry_delay_seconds
            logger.warning(
                "Attempt %d of %d failed: %s. Retrying in %gs.", attempt, flow.retries + 1, failure_message(exc), delay
            )
            flush_logs()
            retry_at = datetime.now(UTC) + timedelta(seconds=delay)
            set_state(client, flow_run_id, "SCHEDULED", name="AwaitingRetry", scheduled_time=retry_at)
            if delay:
                time.sleep(delay)
            _start(client, flow_run_id)
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
