"""``async def`` flows and tasks: direct calls, awaited tasks, submit, subflows, states and logs
(embedded API), and deployments of async flows run by ``deployment execute``."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sluice import flow, get_run_logger, task
from sluice.cli import build_app
from sluice.client import get_client
from sluice.errors import FlowTimeoutError


def only_run(flow_name: str) -> Any:
    with get_client() as client:
        (run,) = client.filter_flow_runs(flow_names=[flow_name])
        return run


def history(run_id: Any) -> list[str]:
    with get_client() as client:
        return [state.type.value for state in client.read_flow_run_states(run_id)]


def task_runs_of(flow_name: str) -> list[Any]:
    with get_client() as client:
        return client.filter_task_runs(flow_run_ids=[only_run(flow_name).id], sort="NAME_ASC")


def test_calling_an_async_flow_returns_a_coroutine_that_runs_it_as_a_flow_run() -> None:
    @flow
    async def greet(name: str = "Marvin") -> str:
        await asyncio.sleep(0)
        return f"hi {name}"

    call = greet("Arthur")
    assert inspect.iscoroutine(call)
    assert asyncio.run(call) == "hi Arthur"
    run = only_run("greet")
    assert run.parameters == {"name": "Arthur"}
    assert history(run.id) == ["PENDING", "RUNNING", "COMPLETED"]


def test_an_async_flow_has_a_parameter_schema_from_its_signature() -> None:
    @flow
    async def typed(count: int, label: str = "x") -> None: ...

    schema = typed.parameters
    assert schema["properties"]["count"]["type"] == "integer"
    assert schema["required"] == ["count"]


def test_async_tasks_are_awaited_in_an_async_flow_as_task_runs_that_log() -> None:
    @task
    async def double(x: int) -> int:
        get_run_logger().info("doubling %s", x)
        await asyncio.sleep(0)
        return x * 2

    @flow
    async def doubles() -> int:
        first = await double(1)
        second = await double(first)
        return second

    assert asyncio.run(doubles()) == 4
    runs = task_runs_of("doubles")
    assert [(run.name, run.state.type.value) for run in runs] == [("double-0", "COMPLETED"), ("double-1", "COMPLETED")]
    with get_client() as client:
        logs = client.filter_logs(only_run("doubles").id)
    assert {log.task_run_id for log in logs if log.message.startswith("doubling")} == {run.id for run in runs}


def test_async_tasks_are_submitted_in_an_async_flow_as_in_prefect_2() -> None:
    @task
    async def answer() -> str:
        await asyncio.sleep(0)
        return "ok"

    @flow
    async def submits() -> list[str]:
        first = await answer.submit()  # Prefect 2's form: submit is awaited for the future
        second = answer.submit()  # submitted at once, whether or not it is awaited
        futures = [first, await second]
        return [await future.result() for future in futures]

    assert asyncio.run(submits()) == ["ok", "ok"]
    assert [run.state.type.value for run in task_runs_of("submits")] == ["COMPLETED", "COMPLETED"]


def test_awaiting_a_future_in_an_async_flow_gives_its_final_state() -> None:
    @task
    def one() -> int:
        return 1

    @flow
    async def awaits_state() -> str:
        future = await one.submit()
        state = await future
        return state.type.value

    assert asyncio.run(awaits_state()) == "COMPLETED"


def test_an_async_task_called_in_a_sync_flow_returns_its_result() -> None:
    @task
    async def fetch() -> str:
        await asyncio.sleep(0)
        return "page"

    @flow
    def sync_caller() -> str:
        return fetch() + "|" + fetch.submit().result()

    assert sync_caller() == "page|page"
    assert len(task_runs_of("sync-caller")) == 2


def test_an_async_flow_called_from_a_sync_flow_runs_as_a_linked_subflow() -> None:
    @flow
    async def child(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    @flow
    def parent() -> int:
        return child(1) + child(2)

    assert parent() == 5
    with get_client() as client:
        children = client.filter_flow_runs(flow_names=["child"])
    assert len(children) == 2
    assert {run.parent_flow_run_id for run in children} == {only_run("parent").id}
    assert all(run.state.type.value == "COMPLETED" for run in children)


def test_async_subflows_awaited_together_in_an_async_flow() -> None:
    @flow
    async def leaf(n: int) -> int:
        await asyncio.sleep(0)
        return n

    @flow
    async def root() -> list[int]:
        return list(await asyncio.gather(leaf(1), leaf(2), leaf(3)))

    assert asyncio.run(root()) == [1, 2, 3]
    with get_client() as client:
        leaves = client.filter_flow_runs(flow_names=["leaf"])
    assert sorted(run.parameters["n"] for run in leaves) == [1, 2, 3]
    assert {run.parent_flow_run_id for run in leaves} == {only_run("root").id}


def test_an_async_flow_retries_and_ends_failed_with_the_error_and_its_traceback() -> None:
    attempts: list[int] = []

    @flow(retries=1)
    async def flaky() -> None:
        attempts.append(1)
        raise ValueError("async failure")

    with pytest.raises(ValueError, match="async failure"):
        asyncio.run(flaky())
    run = only_run("flaky")
    assert len(attempts) == 2
    assert run.state.message == "Flow run encountered an exception. ValueError: async failure"
    assert history(run.id) == ["PENDING", "RUNNING", "SCHEDULED", "RUNNING", "FAILED"]
    with get_client() as client:
        (error,) = client.filter_logs(run.id, level_ge=40)
    assert "Traceback (most recent call last)" in error.message and "in flaky" in error.message


def test_an_async_flow_past_its_timeout_fails_with_a_timeout_error() -> None:
    @flow(timeout_seconds=0.2)
    async def sleeps() -> None:
        await asyncio.sleep(30)

    with pytest.raises(FlowTimeoutError, match=r"exceeded its timeout of 0\.2 seconds"):
        asyncio.run(sleeps())
    assert only_run("sleeps").state.type.value == "FAILED"


ASYNC_FLOW = """import asyncio

from sluice import flow, get_run_logger, task


@task
async def shout(text: str) -> str:
    await asyncio.sleep(0)
    return text.upper()


@flow
async def loud(text: str = "hello") -> str:
    result = await shout(text)
    get_run_logger().info(f"said {result}")
    return result
"""


def test_an_async_flow_deploys_and_runs_with_deployment_execute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "loud.py").write_text(ASYNC_FLOW)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    built = runner.invoke(build_app(), ["deployment", "build", "loud.py:loud", "-n", "l", "-q", "test", "--apply"])
    assert built.exit_code == 0, built.output
    executed = runner.invoke(build_app(), ["deployment", "execute", "loud/l", "--param", "text=abc"])
    assert executed.exit_code == 0, executed.output
    run = only_run("loud")
    assert run.state.type.value == "COMPLETED"
    with get_client() as client:
        assert "said ABC" in [log.message for log in client.filter_logs(run.id)]
        (task_run,) = client.filter_task_runs(flow_run_ids=[run.id])
    assert task_run.name == "shout-0" and task_run.state.type.value == "COMPLETED"
