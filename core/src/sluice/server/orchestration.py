"""The flow-run state machine: which proposed states are accepted, and what accepting one changes.

Rules (``force`` skips them; it is meant for the server's own claim and for operators):

- A new run may start in any state.
- Only a claim moves a run from SCHEDULED to PENDING; no other state goes back to PENDING.
- A SCHEDULED run runs only after being claimed, except one named ``AwaitingRetry``: the engine that
  holds it retries in place (RUNNING → AwaitingRetry → RUNNING).
- COMPLETED follows RUNNING (or CANCELLING, when the run finished before it could be stopped).
- A terminal state (COMPLETED, FAILED, CANCELLED, CRASHED) is never left, with one exception, the
  retry: a FAILED or CRASHED run may be proposed ``SCHEDULED`` named ``AwaitingRetry``.
- A RUNNING run goes back to SCHEDULED only as ``AwaitingRetry``; CANCELLING only moves on to an end.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from sluice.schemas.states import DEFAULT_NAMES, TERMINAL_STATES, State, StateCreate, StateType

RETRY_NAME = "AwaitingRetry"


def rejection_reason(current_type: StateType | None, current_name: str | None, proposed: StateCreate) -> str | None:
    """Why moving from the current state to ``proposed`` is refused, or None when it is allowed."""
    if current_type is None:
        return None
    new = proposed.type
    is_retry = new is StateType.SCHEDULED and proposed.name == RETRY_NAME
    if current_type in TERMINAL_STATES:
        if is_retry and current_type in (StateType.FAILED, StateType.CRASHED):
            return None
        return (
            f"the run is {current_type.value} ({current_name}), a terminal state; only a FAILED or CRASHED run "
            f"may leave it, as a retry (SCHEDULED named {RETRY_NAME})"
        )
    if new is StateType.PENDING:
        if current_type is StateType.SCHEDULED:
            return "only a claim moves a run from SCHEDULED to PENDING (an agent claims runs from its work queue)"
        return f"a {current_type.value} run cannot go back to PENDING"
    if new is StateType.RUNNING:
        if current_type is StateType.SCHEDULED and current_name != RETRY_NAME:
            return "a SCHEDULED run must be claimed (PENDING) before it runs"
        if current_type in (StateType.RUNNING, StateType.CANCELLING):
            return f"the run is already {current_type.value}"
        return None
    if new is StateType.COMPLETED and current_type not in (StateType.RUNNING, StateType.CANCELLING):
        return f"a {current_type.value} run cannot be COMPLETED: it has not run"
    if new is StateType.SCHEDULED:
        if current_type is StateType.RUNNING and not is_retry:
            return f"a RUNNING run goes back to SCHEDULED only as a retry ({RETRY_NAME})"
        if current_type is StateType.CANCELLING:
            return "the run is being cancelled"
        return None
    if new is StateType.CANCELLING and current_type is StateType.CANCELLING:
        return "the run is already CANCELLING"
    return None


def apply_state(run: Any, proposed: StateCreate, now: datetime) -> dict[str, Any]:
    """Put ``run`` (a flow-run row, or any object with its attributes) in the ``proposed`` state and
    return the values of the history row to insert.

    RUNNING counts a run (``run_count``) and sets ``start_time`` the first time; a terminal state sets
    ``end_time`` (cleared again by a retry); SCHEDULED sets the expected start time. The state is
    dated ``state_time(...)``: the client's timestamp when it gave one.
    """
    when = state_time(run, proposed, now)
    new = proposed.type
    scheduled_time = None
    if new is StateType.SCHEDULED:
        scheduled_time = proposed.scheduled_time
        if scheduled_time is None and run.state_type == StateType.SCHEDULED.value:
            scheduled_time = run.next_scheduled_start_time  # e.g. Scheduled → Late keeps its time
        elif scheduled_time is None and run.state_type is None:
            scheduled_time = run.expected_start_time  # a new run created with an expected start time
        scheduled_time = scheduled_time or when
        run.expected_start_time = scheduled_time
        run.next_scheduled_start_time = scheduled_time
    else:
        run.next_scheduled_start_time = None
        if run.expected_start_time is None:
            run.expected_start_time = when
    if new is StateType.RUNNING:
        run.run_count = (run.run_count or 0) + 1
        if run.start_time is None:
            run.start_time = when
    if new in TERMINAL_STATES:
        run.end_time = when
    elif run.end_time is not None:
        run.end_time = None
    name = proposed.name or DEFAULT_NAMES[new]
    run.state_type = new.value
    run.state_name = name
    run.state_timestamp = when
    run.state_message = proposed.message
    run.updated = now
    return {
        "id": proposed.id or uuid4(),
        "flow_run_id": run.id,
        "type": new.value,
        "name": name,
        "timestamp": when,
        "message": proposed.message,
        "scheduled_time": scheduled_time,
        "created": now,
        "updated": now,
    }


def state_time(run: Any, proposed: StateCreate, now: datetime) -> datetime:
    """When ``proposed`` happened: its client timestamp, but never after ``now`` (a clock running
    ahead) nor before the run's current state (so the history keeps its order); ``now`` without one."""
    if proposed.timestamp is None:
        return now
    when = min(proposed.timestamp, now)
    current = getattr(run, "state_timestamp", None)
    return max(when, current) if current is not None else when


def current_state(run: Any) -> State | None:
    """The run's current state as the API shows it."""
    if run.state_type is None:
        return None
    return State(
        type=StateType(run.state_type),
        name=run.state_name or run.state_type.title(),
        timestamp=run.state_timestamp or run.updated,
        message=run.state_message,
        scheduled_time=run.next_scheduled_start_time,
    )
