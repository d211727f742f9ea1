"""Flows with tasks the agent end-to-end tests deploy: parallel tasks on Dask, a subflow, a failing
task; and an async flow."""

from __future__ import annotations

import asyncio

from sluice import flow, get_run_logger, task
from sluice.tasks import unmapped
from sluice_dask import DaskTaskRunner

#: How long a task or the flow waits for an event another sets (a deadline, not a measure).
DEADLINE = 60


@task
def part(index: int, barrier: str) -> int:
    """Say it started, then wait until the flow saw every part start: all must run at once."""
    from distributed import Event

    get_run_logger().info("part %d started", index)
    Event(f"{barrier}-started-{index}").set()
    if not Event(f"{barrier}-go").wait(DEADLINE):
        raise TimeoutError(f"part {index}: the other parts never all started")
    return index * index


@task
def bad_row(row: int) -> int:
    """Fail, as a task with a bug does."""
    raise ValueError(f"row {row} cannot be parsed")


@flow(name="summarise")
def summarise(total: int) -> str:
    """A subflow."""
    get_run_logger().info("total is %d", total)
    return f"total={total}"


@task
def report(total: int) -> str:
    """A task that calls a subflow."""
    return summarise(total)


@flow(
    name="fan-out",
    task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 3, "processes": True}),
)
def fan_out(parts: int = 4, barrier: str = "fan-out") -> None:
    """Parts in parallel on a local Dask cluster, a subflow called from a task, and a task that fails."""
    from distributed import Client, Event

    futures = part.map(range(parts), barrier=unmapped(barrier))
    runner = _runner()
    with Client(runner.client.scheduler.address, set_as_default=False) as watcher:
        for index in range(parts):
            if not Event(f"{barrier}-started-{index}", client=watcher).wait(DEADLINE):
                raise TimeoutError(f"part {index} never started while the others ran")
        Event(f"{barrier}-go", client=watcher).set()
    report.submit(sum(future.result() for future in futures)).wait()
    bad_row.submit(7)  # its failure fails the flow, which returns nothing


def _runner() -> DaskTaskRunner:
    from sluice.context import get_flow_run_context

    context = get_flow_run_context()
    assert context is not None
    return context.task_runner  # type: ignore[return-value]


@task
async def shout(text: str) -> str:
    await asyncio.sleep(0)
    return text.upper()


@flow(name="async-shout")
async def async_shout(text: str = "hello") -> str:
    """An async flow awaiting an async task and submitting another."""
    first = await shout(text)
    second = await (await shout.submit(first + "!")).result()
    get_run_logger().info("shouted %s", second)
    return second
