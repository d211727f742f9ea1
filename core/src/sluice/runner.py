"""Running a flow as a recorded flow run: states, retries, timeout, logs, subflow links.

``run_flow`` is what calling a ``Flow`` does: it creates the run on the API (a subflow run when a
flow run is already in progress) and orchestrates it. ``orchestrate_flow_run`` runs an existing run
(the engine uses it for deployment runs): it validates the parameters, moves the run to RUNNING,
runs the body under the flow's timeout as many times as its retries allow (AwaitingRetry between
attempts), ships the logs and sets COMPLETED or FAILED.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sluice.context import FlowRunContext, flow_run_context, get_flow_run_context
from sluice.errors import ParameterError, RunNotClaimable
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
    return orchestrate_flow_run(flow, run.id, run.name, parameters)


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
    result = set_state(client, flow_run_id, "RUNNING")
    if result.status != "ACCEPT":
        current = result.state.type if result.state is not None else "unknown"
        raise RunNotClaimable(
            f"flow run {flow_run_id} cannot start: the server refused RUNNING (current state {current}; "
            f"{result.reason or 'it was claimed or finished elsewhere'})"
        )


def set_state(
    client: Any,
    flow_run_id: UUID,
    state_type: str,
    name: str | None = None,
    message: str | None = None,
    scheduled_time: datetime | None = None,
) -> Any:
    from sluice.schemas import StateCreate

    state = StateCreate(type=state_type, name=name, message=message and message[:10_000], scheduled_time=scheduled_time)
    return client.set_flow_run_state(flow_run_id, state)
