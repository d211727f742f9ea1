"""Tasks inside flow runs: recorded task runs, submit and futures, runners, retries, logs (embedded API)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sluice import flow, get_run_logger, task
from sluice.client import get_client
from sluice.errors import ConfigurationError, UnknownSlugError
from sluice.task_runners import SequentialTaskRunner, TaskRunsFailed, ThreadPoolTaskRunner, UpstreamTaskError

#: The longest any test waits for an event another task sets (a deadline, not a measure).
DEADLINE = 30


def only_run(flow_name: str) -> Any:
    with get_client() as client:
        (run,) = client.filter_flow_runs(flow_names=[flow_name])
        return run


def task_runs_of(flow_name: str) -> list[Any]:
    with get_client() as client:
        return client.filter_task_runs(flow_run_ids=[only_run(flow_name).id], sort="NAME_ASC", limit=1000)


def task_states(task_run_id: Any) -> list[tuple[str, str]]:
    with get_client() as client:
        return [(state.type.value, state.name) for state in client.read_task_run_states(task_run_id)]


def logs_of(flow_name: str, **criteria: Any) -> list[Any]:
    with get_client() as client:
        return client.filter_logs(only_run(flow_name).id, limit=1000, **criteria)


def test_a_task_called_in_a_flow_is_a_recorded_task_run() -> None:
    @task
    def add(a: int, b: int) -> int:
        return a + b

    @flow
    def adds() -> int:
        return add(1, 2)

    assert adds() == 3
    (run,) = task_runs_of("adds")
    assert (run.name, run.dynamic_key, run.run_count) == ("add-0", "0", 1)
    assert run.task_key.endswith("test_a_task_called_in_a_flow_is_a_recorded_task_run.<locals>.add")
    assert task_states(run.id) == [("PENDING", "Pending"), ("RUNNING", "Running"), ("COMPLETED", "Completed")]
    assert run.start_time is not None and run.end_time >= run.start_time


def test_each_call_of_a_task_gets_its_own_dynamic_key() -> None:
    @task
    def tick(n: int) -> int:
        return n

    @flow
    def ticks() -> list[int]:
        return [tick(n) for n in range(3)]

    ticks()
    assert [(run.name, run.dynamic_key) for run in task_runs_of("ticks")] == [
        ("tick-0", "0"),
        ("tick-1", "1"),
        ("tick-2", "2"),
    ]


def test_submit_returns_a_future_of_the_result() -> None:
    @task
    def square(x: int) -> int:
        return x * x

    @flow
    def squares() -> list[int]:
        futures = [square.submit(x) for x in range(4)]
        return [future.result() for future in futures]

    assert squares() == [0, 1, 4, 9]
    assert all(run.state.type.value == "COMPLETED" for run in task_runs_of("squares"))


def test_submitted_tasks_run_at_the_same_time_on_threads() -> None:
    first_started = threading.Event()
    second_started = threading.Event()

    @task
    def first() -> bool:
        first_started.set()
        return second_started.wait(DEADLINE)  # only true if the second runs while this one waits

    @task
    def second() -> bool:
        second_started.set()
        return first_started.wait(DEADLINE)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def side_by_side() -> list[bool]:
        futures = [first.submit(), second.submit()]
        return [future.result() for future in futures]

    assert side_by_side() == [True, True]


def test_the_sequential_runner_runs_each_task_before_the_next_is_submitted() -> None:
    order: list[str] = []

    @task
    def step(name: str) -> None:
        order.append(name)

    @flow(task_runner=SequentialTaskRunner())
    def in_order() -> None:
        for name in "abc":
            step.submit(name)
            order.append(f"after {name}")

    in_order()
    assert order == ["a", "after a", "b", "after b", "c", "after c"]


def test_a_runner_named_by_slug_is_used() -> None:
    seen: list[str] = []

    @task
    def where() -> None:
        seen.append(threading.current_thread().name)

    @flow(task_runner="sequential")
    def by_slug() -> None:
        where.submit()

    by_slug()
    assert seen == [threading.main_thread().name]


def test_an_unknown_runner_slug_fails_the_run_saying_what_to_install() -> None:
    @flow(task_runner="ray")
    def needs_ray() -> None:
        raise AssertionError("the body must not run")

    with pytest.raises(UnknownSlugError, match=r"Unknown task runner 'ray': no installed plugin provides it"):
        needs_ray()
    run = only_run("needs-ray")
    assert run.state.type.value == "FAILED"
    assert run.state.message.startswith("Task runner could not start: UnknownSlugError")


def test_a_task_runner_that_is_not_one_is_refused_when_the_flow_is_defined() -> None:
    with pytest.raises(ConfigurationError, match="task_runner must be a TaskRunner"):

        @flow(task_runner=42)
        def wrong() -> None: ...


def test_futures_passed_to_tasks_are_replaced_by_their_results() -> None:
    @task
    def number(n: int) -> int:
        return n

    @task
    def total(values: list[int], extra: int) -> int:
        return sum(values) + extra

    @flow
    def summed() -> int:
        one, two = number.submit(1), number.submit(2)
        return total.submit([one, two], extra=number.submit(10)).result()

    assert summed() == 13
    runs = {run.name: run for run in task_runs_of("summed")}
    inputs = runs["total-0"].task_inputs
    assert set(inputs) == {"values", "extra"}
    assert set(inputs["values"]) == {runs["number-0"].id, runs["number-1"].id}


def test_a_task_given_a_failed_future_is_not_run_and_says_which() -> None:
    ran: list[int] = []

    @task
    def broken() -> int:
        raise ValueError("no value")

    @task
    def uses(value: int) -> None:
        ran.append(value)

    @flow
    def downstream() -> str:
        future = uses.submit(broken.submit())
        with pytest.raises(UpstreamTaskError, match=r"upstream task run 'broken-0' did not complete"):
            future.result()
        return "handled"

    assert downstream() == "handled"
    assert ran == []
    runs = {run.name: run for run in task_runs_of("downstream")}
    assert (runs["uses-0"].state.type.value, runs["uses-0"].state.name) == ("FAILED", "NotReady")


def test_a_failed_task_raises_its_error_from_result_and_is_recorded_failed() -> None:
    @task
    def fails() -> None:
        raise KeyError("missing")

    @flow
    def catches() -> str:
        future = fails.submit()
        with pytest.raises(KeyError, match="missing"):
            future.result()
        assert isinstance(future.result(raise_on_failure=False), KeyError)
        assert future.state.type.value == "FAILED"
        return "caught"

    assert catches() == "caught"
    (run,) = task_runs_of("catches")
    assert run.state.message == "Task run encountered an exception. KeyError: 'missing'"


def test_submitted_task_retries_go_through_awaiting_retry() -> None:
    calls: list[int] = []

    @task(retries=2)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("try again")
        return "done"

    @flow
    def retrying() -> str:
        return flaky.submit().result()

    assert retrying() == "done"
    (run,) = task_runs_of("retrying")
    assert run.run_count == 3
    assert task_states(run.id) == [
        ("PENDING", "Pending"),
        ("RUNNING", "Running"),
        ("SCHEDULED", "AwaitingRetry"),
        ("RUNNING", "Running"),
        ("SCHEDULED", "AwaitingRetry"),
        ("RUNNING", "Running"),
        ("COMPLETED", "Completed"),
    ]


def test_a_flow_returning_nothing_fails_when_a_submitted_task_failed() -> None:
    @task
    def fine() -> None: ...

    @task
    def fails() -> None:
        raise RuntimeError("bad row")

    @flow
    def fire_and_forget() -> None:
        fine.submit()
        fails.submit()

    with pytest.raises(TaskRunsFailed, match=r"1 of 2 submitted task runs failed: 'fails-0'"):
        fire_and_forget()
    assert only_run("fire-and-forget").state.type.value == "FAILED"


def test_a_flow_waits_for_its_submitted_tasks_before_it_completes() -> None:
    release = threading.Event()
    finished: list[str] = []

    @task
    def slow() -> None:
        release.wait(DEADLINE)
        finished.append("slow")

    @flow
    def leaves_it_running() -> str:
        slow.submit()
        release.set()
        return "returned"

    assert leaves_it_running() == "returned"
    assert finished == ["slow"]
    (run,) = task_runs_of("leaves-it-running")
    assert run.state.type.value == "COMPLETED"


def test_get_run_logger_in_a_task_logs_with_its_task_run_id() -> None:
    @task
    def chatty() -> None:
        get_run_logger().info("inside the task")

    @flow
    def logs_from_tasks() -> None:
        get_run_logger().info("inside the flow")
        chatty()
        chatty.submit().wait()

    logs_from_tasks()
    runs = task_runs_of("logs-from-tasks")
    by_message: dict[str, set[Any]] = {}
    for log in logs_of("logs-from-tasks"):
        by_message.setdefault(log.message, set()).add(log.task_run_id)
    assert by_message["inside the flow"] == {None}
    assert by_message["inside the task"] == {run.id for run in runs}


def test_a_failed_task_logs_its_traceback_with_the_line() -> None:
    @task
    def divides() -> float:
        return 1 / 0

    @flow
    def divide() -> None:
        divides()

    with pytest.raises(ZeroDivisionError):
        divide()
    (run,) = task_runs_of("divide")
    (task_error,) = [log for log in logs_of("divide", level_ge=40) if log.task_run_id == run.id]
    assert "Traceback (most recent call last)" in task_error.message
    assert "in divides" in task_error.message and "return 1 / 0" in task_error.message
    assert run.state.message == "Task run encountered an exception. ZeroDivisionError: division by zero"


def test_a_failed_flow_logs_its_traceback_and_keeps_a_one_line_state_message() -> None:
    def helper() -> None:
        raise ValueError("deep down")

    @flow
    def fails_deep() -> None:
        helper()

    with pytest.raises(ValueError):
        fails_deep()
    run = only_run("fails-deep")
    assert run.state.message == "Flow run encountered an exception. ValueError: deep down"
    (error,) = logs_of("fails-deep", level_ge=40)
    assert error.message.startswith("Finished in state Failed: Flow run encountered an exception. ValueError")
    assert "Traceback (most recent call last)" in error.message
    assert "in helper" in error.message and 'raise ValueError("deep down")' in error.message
    assert "sluice/runner.py" not in error.message  # Sluice's own frames are left out


def test_a_subflow_called_in_a_task_is_linked_to_that_task_run() -> None:
    @flow
    def inner() -> int:
        return 1

    @task
    def calls_inner() -> int:
        return inner()

    @flow
    def outer() -> int:
        return calls_inner.submit().result() + calls_inner()

    assert outer() == 2
    with get_client() as client:
        tree = client.read_flow_run_tree(only_run("outer").id)
    callers = {run.id for run in tree.task_runs}
    assert len(tree.subflow_runs) == 2
    assert {sub.flow_run.parent_task_run_id for sub in tree.subflow_runs} == callers


def test_a_task_called_inside_a_task_names_its_parent_task_run() -> None:
    @task
    def leaf() -> int:
        return 1

    @task
    def branch() -> int:
        return leaf() + leaf.submit().result()

    @flow
    def nested() -> int:
        return branch()

    assert nested() == 2
    runs = {run.name: run for run in task_runs_of("nested")}
    assert runs["leaf-0"].parent_task_run_id == runs["branch-0"].id
    assert runs["leaf-1"].parent_task_run_id == runs["branch-0"].id
    assert runs["branch-0"].parent_task_run_id is None


def test_map_submits_one_task_run_per_item() -> None:
    from sluice.tasks import unmapped

    @task
    def scale(value: int, factor: int, label: list[str]) -> str:
        return f"{label[0]}{value * factor}"

    @flow
    def mapped() -> list[str]:
        return [future.result() for future in scale.map([1, 2, 3], factor=10, label=unmapped(["x"]))]

    assert mapped() == ["x10", "x20", "x30"]
    assert len(task_runs_of("mapped")) == 3


def test_map_over_iterables_of_different_lengths_says_so() -> None:
    @task
    def pair(a: int, b: int) -> None: ...

    @flow
    def uneven() -> None:
        pair.map([1, 2], [1, 2, 3])

    with pytest.raises(ConfigurationError, match=r"different lengths \(2, 3\)"):
        uneven()


def test_submit_outside_a_flow_run_says_where_to_call_it() -> None:
    @task
    def alone() -> None: ...

    with pytest.raises(ConfigurationError, match=r"alone.submit\(\) works inside a flow run only"):
        alone.submit()


def test_a_task_called_outside_a_flow_is_a_plain_call_with_retries() -> None:
    calls: list[int] = []

    @task(retries=1)
    def twice() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("first")
        return len(calls)

    assert twice() == 2


def test_ten_thousand_trivial_tasks_are_all_recorded() -> None:
    @task
    def trivial(n: int) -> int:
        return n

    @flow
    def many() -> int:
        return sum(future.result() for future in trivial.map(range(10_000)))

    assert many() == sum(range(10_000))
    with get_client() as client:
        run_id = only_run("many").id
        completed = 0
        offset = 0
        while True:
            page = client.filter_task_runs(flow_run_ids=[run_id], limit=1000, offset=offset)
            completed += sum(run.state.type.value == "COMPLETED" for run in page)
            if len(page) < 1000:
                break
            offset += 1000
    assert completed == 10_000


def test_task_runs_are_sent_in_batches() -> None:
    from sluice.task_run_recorder import TaskRunRecorder

    batches: list[tuple[int, int]] = []
    recorder = TaskRunRecorder(send=lambda runs, states: batches.append((len(runs), len(states))), batch_size=10)

    class Item:
        def __init__(self, n: int) -> None:
            self.n = n

        def model_dump(self, **_: Any) -> dict[str, Any]:
            return {"id": str(self.n)}

    for n in range(25):
        recorder.create(Item(n))
        recorder.set_state(n, Item(n))  # type: ignore[arg-type]
    recorder.flush()
    assert all(runs <= 10 and states <= 10 for runs, states in batches)
    assert sum(runs for runs, _ in batches) == 25 and sum(states for _, states in batches) == 25


def test_a_task_raising_timeout_error_is_not_mistaken_for_a_wait_that_timed_out() -> None:
    @task
    def gives_up() -> None:
        raise TimeoutError("the remote side never answered")

    @flow
    def waits_on_it() -> str:
        future = gives_up.submit()
        with pytest.raises(TimeoutError, match="the remote side never answered"):
            future.result()
        return "seen"

    assert waits_on_it() == "seen"


def test_result_with_a_timeout_says_the_task_run_did_not_end_in_time() -> None:
    release = threading.Event()

    @task
    def held() -> None:
        release.wait(DEADLINE)

    @flow
    def impatient() -> str:
        future = held.submit()
        try:
            with pytest.raises(TimeoutError, match=r"task run 'held-0' did not end within 0\.01s"):
                future.result(timeout=0.01)
        finally:
            release.set()
        return "done"

    assert impatient() == "done"


def test_task_runs_still_going_when_the_flow_times_out_are_crashed() -> None:
    from sluice.errors import FlowTimeoutError

    release = threading.Event()

    @task
    def stuck() -> None:
        release.wait(DEADLINE)

    @flow(timeout_seconds=0.5)
    def gives_up_waiting() -> None:
        stuck.submit()

    try:
        with pytest.raises(FlowTimeoutError):
            gives_up_waiting()
    finally:
        release.set()
    (run,) = task_runs_of("gives-up-waiting")
    assert run.state.type.value == "CRASHED"
    assert "its flow run ended first (FlowTimeoutError)" in run.state.message
