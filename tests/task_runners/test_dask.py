"""The 'dask' task runner (plugins/dask) on a real ``distributed.LocalCluster`` (127.0.0.1).

One cluster (2 worker processes of 25 threads) serves the module through its scheduler address, as
an existing cluster serves a production flow; one test lets the runner start its own cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sluice import flow, get_run_logger, task
from sluice.client import get_client
from sluice.tasks import unmapped

pytestmark = pytest.mark.slow

#: The longest a task or the flow waits for a Dask event another one sets (a deadline, not a measure).
DEADLINE = 60


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=25,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    ) as local_cluster:
        yield local_cluster


@pytest.fixture
def address(cluster: Any) -> str:
    return cluster.scheduler_address


def only_run(flow_name: str) -> Any:
    with get_client() as client:
        (run,) = client.filter_flow_runs(flow_names=[flow_name])
        return run


def task_runs_of(flow_name: str) -> list[Any]:
    with get_client() as client:
        return client.filter_task_runs(flow_run_ids=[only_run(flow_name).id], limit=1000)


@task
def square(x: int) -> int:
    return x * x


@task
def rendezvous(index: int, name: str) -> bool:
    """Say it started, then wait until the flow saw every task start: true only if all ran at once."""
    from distributed import Event

    Event(f"{name}-started-{index}").set()
    return Event(f"{name}-go").wait(DEADLINE)


@task(retries=1)
def fails_on_the_worker(marker: str) -> None:
    get_run_logger().info("about to fail on %s", marker)
    raise ValueError(f"no luck on {marker}")


@task
def worker_logs(word: str) -> str:
    get_run_logger().info("worker says %s", word)
    return word


def test_fifty_tasks_run_at_the_same_time_on_the_cluster(address: str) -> None:
    from distributed import Client, Event

    from sluice_dask import DaskTaskRunner

    name = f"barrier-{uuid.uuid4().hex[:8]}"

    @flow(task_runner=DaskTaskRunner(address=address))
    def fifty_at_once() -> list[bool]:
        futures = rendezvous.map(range(50), name=unmapped(name))
        with Client(address, set_as_default=False) as watcher:
            started = [Event(f"{name}-started-{index}", client=watcher).wait(DEADLINE) for index in range(50)]
            Event(f"{name}-go", client=watcher).set()
        assert all(started), f"only {sum(started)} of 50 tasks were running at once"
        return [future.result() for future in futures]

    assert fifty_at_once() == [True] * 50
    runs = task_runs_of("fifty-at-once")
    assert len(runs) == 50 and all(run.state.type.value == "COMPLETED" for run in runs)


def test_results_and_futures_as_arguments_travel_through_the_cluster(address: str) -> None:
    from sluice_dask import DaskTaskRunner

    @task
    def total(values: list[int]) -> int:
        return sum(values)

    @flow(task_runner=DaskTaskRunner(address=address))
    def sum_of_squares() -> int:
        return total.submit(square.map(range(5))).result()

    assert sum_of_squares() == 30
    runs = {run.name: run for run in task_runs_of("sum-of-squares")}
    assert set(runs["total-0"].task_inputs["values"]) == {runs[f"square-{i}"].id for i in range(5)}


def test_a_task_failing_on_a_worker_is_retried_and_recorded_failed_with_its_traceback(address: str) -> None:
    from sluice_dask import DaskTaskRunner

    @flow(task_runner=DaskTaskRunner(address=address))
    def remote_failure() -> str:
        future = fails_on_the_worker.submit("worker")
        with pytest.raises(ValueError, match="no luck on worker"):
            future.result()
        return "seen"

    assert remote_failure() == "seen"
    (run,) = task_runs_of("remote-failure")
    assert (run.state.type.value, run.run_count) == ("FAILED", 2)
    assert run.state.message == "Task run encountered an exception. ValueError: no luck on worker"
    with get_client() as client:
        logs = client.filter_logs(task_run_ids=[run.id])
    messages = [log.message for log in logs]
    assert messages.count("about to fail on worker") == 2  # logged on the worker, shipped by the engine
    (error,) = [log for log in logs if log.level >= 40]
    assert "Traceback (most recent call last)" in error.message
    assert "in fails_on_the_worker" in error.message and "test_dask.py" in error.message


def test_logs_made_on_workers_reach_the_api_marked_with_their_task_run(address: str) -> None:
    from sluice_dask import DaskTaskRunner

    @flow(task_runner=DaskTaskRunner(address=address))
    def chatter() -> list[str]:
        return [future.result() for future in worker_logs.map(["a", "b"])]

    assert chatter() == ["a", "b"]
    runs = task_runs_of("chatter")
    with get_client() as client:
        logs = client.filter_logs(only_run("chatter").id)
    by_task = {log.task_run_id: log.message for log in logs if log.message.startswith("worker says")}
    words = {"worker_logs-0": "a", "worker_logs-1": "b"}
    assert by_task == {run.id: f"worker says {words[run.name]}" for run in runs}


def test_the_runner_named_by_slug_uses_the_scheduler_in_sluice_dask_address(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLUICE_DASK_ADDRESS", address)

    @flow(task_runner="dask")
    def by_slug() -> int:
        from sluice.context import get_flow_run_context

        runner = get_flow_run_context().task_runner
        assert runner.describe() == f"DaskTaskRunner(address={address!r})"
        return square.submit(7).result()

    assert by_slug() == 49


def test_without_an_address_the_runner_starts_and_closes_a_local_cluster() -> None:
    from sluice_dask import DaskTaskRunner

    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 1, "threads_per_worker": 2, "processes": False})
    clusters: list[Any] = []

    @flow(task_runner=runner)
    def own_cluster() -> int:
        from sluice.context import get_flow_run_context

        started = get_flow_run_context().task_runner
        clusters.append(started._cluster)
        return square.submit(3).result()

    assert own_cluster() == 9
    (local,) = clusters
    assert local is not None and local.status.name == "closed"
    assert runner._cluster is None  # the flow's copy was started, not the object given to @flow


def test_a_cluster_that_cannot_be_reached_fails_the_run_saying_so() -> None:
    from sluice_dask import DaskTaskRunner

    @flow(task_runner=DaskTaskRunner(address="tcp://127.0.0.1:9", client_kwargs={"timeout": "2s"}))
    def unreachable() -> None:
        raise AssertionError("the body must not run")

    with pytest.raises(OSError):
        unreachable()
    run = only_run("unreachable")
    assert run.state.type.value == "FAILED"
    assert run.state.message.startswith("Task runner could not start:")


def test_the_dask_plugin_registers_its_runner_under_the_slug_dask() -> None:
    from sluice.plugins import PluginManager

    manager = PluginManager(allow="sluice-dask")
    entry = {entry.slug: entry for entry in manager.registry("task_runner").entries()}["dask"]
    assert (entry.cls.__name__, entry.distribution) == ("DaskTaskRunner", "sluice-dask")
