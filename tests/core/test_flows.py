"""Calling flows: recorded runs, states, retries, timeouts, subflows, tasks and logs (embedded API)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import BaseModel

from sluice import flow, get_run_logger, task
from sluice.client import get_client
from sluice.errors import FlowTimeoutError, ParameterError
from sluice.logging import MissingRunContextError


def runs_of(flow_name: str) -> list[Any]:
    with get_client() as client:
        flow_id = client.read_flow_by_name(flow_name).id
        return client.filter_flow_runs(flow_ids=[flow_id])


def history(run_id: Any) -> list[tuple[str, str]]:
    with get_client() as client:
        return [(state.type.value, state.name) for state in client.read_flow_run_states(run_id)]


def log_messages(run_id: Any) -> list[str]:
    with get_client() as client:
        return [log.message for log in client.filter_logs(run_id)]


class Point(BaseModel):
    x: int
    y: int = 0


def test_calling_a_flow_returns_its_result_and_records_a_completed_run() -> None:
    @flow
    def add_numbers(a: int, b: int = 2) -> int:
        return a + b

    assert add_numbers(1) == 3
    (run,) = runs_of("add-numbers")
    assert run.parameters == {"a": 1}
    assert history(run.id) == [("PENDING", "Pending"), ("RUNNING", "Running"), ("COMPLETED", "Completed")]


def test_a_flow_records_its_items_and_options_under_their_own_names() -> None:
    @flow
    def gather(prefix: str, *items: int, **options: str) -> tuple[Any, ...]:
        return prefix, items, options

    assert gather("p", "1", 2, colour="red") == ("p", (1, 2), {"colour": "red"})
    (run,) = runs_of("gather")
    assert run.parameters == {"prefix": "p", "items": ["1", 2], "options": {"colour": "red"}}
    assert run.state.type.value == "COMPLETED"


def test_parameters_are_coerced_before_the_body_runs() -> None:
    seen: dict[str, Any] = {}

    @flow
    def coerce_me(count: int, point: Point) -> None:
        seen.update(count=count, point=point)

    coerce_me("3", {"x": "4"})  # type: ignore[arg-type]
    assert seen == {"count": 3, "point": Point(x=4)}


def test_a_parameter_of_the_wrong_type_fails_the_run_naming_it() -> None:
    @flow
    def typed(count: int) -> None:
        raise AssertionError("the body must not run")

    with pytest.raises(ParameterError, match="parameter 'count'"):
        typed("many")  # type: ignore[arg-type]
    (run,) = runs_of("typed")
    assert run.state.type.value == "FAILED"
    assert "Validation of flow parameters failed" in run.state.message


def test_validation_can_be_turned_off() -> None:
    @flow(validate_parameters=False)
    def raw(count: int) -> Any:
        return count

    assert raw("many") == "many"  # type: ignore[arg-type]


def test_retries_go_through_awaiting_retry_and_the_last_attempt_wins() -> None:
    attempts: list[int] = []

    @flow(retries=2)
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ValueError(f"attempt {len(attempts)} failed")
        return "ok"

    assert flaky() == "ok"
    (run,) = runs_of("flaky")
    assert run.run_count == 3
    assert history(run.id) == [
        ("PENDING", "Pending"),
        ("RUNNING", "Running"),
        ("SCHEDULED", "AwaitingRetry"),
        ("RUNNING", "Running"),
        ("SCHEDULED", "AwaitingRetry"),
        ("RUNNING", "Running"),
        ("COMPLETED", "Completed"),
    ]
    assert any("Attempt 1 of 3 failed" in message for message in log_messages(run.id))


def test_a_flow_that_keeps_failing_raises_and_ends_failed_with_the_error() -> None:
    @flow(retries=1)
    def broken() -> None:
        raise RuntimeError("no luck")

    with pytest.raises(RuntimeError, match="no luck"):
        broken()
    (run,) = runs_of("broken")
    assert run.state.type.value == "FAILED"
    assert run.state.message == "Flow run encountered an exception. RuntimeError: no luck"
    assert run.run_count == 2


def test_a_flow_past_its_timeout_fails_with_a_timeout_error() -> None:
    @flow(timeout_seconds=0.2)
    def slow() -> None:
        time.sleep(30)

    with pytest.raises(FlowTimeoutError, match=r"exceeded its timeout of 0\.2 seconds"):
        slow()
    (run,) = runs_of("slow")
    assert run.state.type.value == "FAILED"
    assert "TimeoutError" in run.state.message


def test_a_flow_called_inside_a_flow_is_a_linked_subflow_run() -> None:
    @flow
    def child(x: int) -> int:
        return x * 2

    @flow
    def parent() -> int:
        return child(2) + child(3)

    assert parent() == 10
    (parent_run,) = runs_of("parent")
    children = runs_of("child")
    assert len(children) == 2
    assert {run.parent_flow_run_id for run in children} == {parent_run.id}
    assert all(run.state.type.value == "COMPLETED" for run in children)


def test_run_logger_records_to_the_run() -> None:
    @flow
    def chatty() -> None:
        logger = get_run_logger()
        logger.info("hello from the flow")
        logger.warning("careful")

    chatty()
    (run,) = runs_of("chatty")
    messages = log_messages(run.id)
    assert "hello from the flow" in messages
    assert "careful" in messages
    assert messages[-1] == "Finished in state Completed()"


def test_task_retries_are_logged_to_the_run() -> None:
    calls: list[int] = []

    @task(retries=2)
    def wobbly() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("try again")
        return "done"

    @flow
    def uses_task() -> str:
        return wobbly()

    assert uses_task() == "done"
    (run,) = runs_of("uses-task")
    messages = log_messages(run.id)
    assert "Task 'wobbly' attempt 1 of 3 failed: ConnectionError: try again. Retrying in 0s." in messages
    assert "Task 'wobbly' attempt 2 of 3 failed: ConnectionError: try again. Retrying in 0s." in messages
    assert "Task 'wobbly' completed (attempt 3 of 3)" in messages


def test_a_task_that_keeps_failing_raises_its_error() -> None:
    @task(retries=1)
    def hopeless() -> None:
        raise KeyError("gone")

    with pytest.raises(KeyError):
        hopeless()


def test_get_run_logger_outside_a_run_says_where_to_call_it() -> None:
    with pytest.raises(MissingRunContextError, match=r"outside a flow run"):
        get_run_logger()


def test_a_timeout_also_stops_a_flow_called_from_a_worker_thread() -> None:
    import threading

    @flow(timeout_seconds=0.2)
    def spins() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pass

    errors: list[BaseException] = []

    def call() -> None:
        try:
            spins()
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], FlowTimeoutError)
    (run,) = runs_of("spins")
    assert run.state.type.value == "FAILED"
