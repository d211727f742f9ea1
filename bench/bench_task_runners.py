"""Task-runner benchmarks: 1,000 trivial tasks submitted in one flow run, with each runner.

Each flow run records its task runs on an embedded API (SQLite in a temporary ``SLUICE_HOME``), as a
script run does. Prints one figure per line:

- ``tasks_1000_<runner>_wall``: seconds from the flow's call to its return, for 1,000
  ``trivial.submit(n)`` and their ``result()`` — creating, running and recording each task run,
  the flow run's own start and end included (a ``sequential`` runner, a ``threads`` pool of 8, and
  ``dask``: a ``distributed.LocalCluster`` of 2 worker processes, its start and stop included).
- ``tasks_1000_<runner>_overhead_per_task``: that wall time, less 1,000 direct calls of the function,
  divided by 1,000: what Sluice (and the runner) add to each task.
- ``tasks_1000_dask_cluster_start_stop``: the local cluster's own start and stop, measured apart.

The machine's load shows in these figures: compare them on one machine, one after another.
"""

from __future__ import annotations

import os
import tempfile
import time

TASKS = 1000


def emit(name: str, value: float, unit: str) -> None:
    """One figure, one line."""
    print(f"{name}: {value:.4f} {unit}", flush=True)


def trivial(n: int) -> int:
    return n + 1


def main() -> None:
    os.environ["SLUICE_HOME"] = tempfile.mkdtemp(prefix="sluice-bench-tasks-")
    os.environ.pop("SLUICE_API_URL", None)
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)

    from sluice import flow, task
    from sluice.task_runners import SequentialTaskRunner, ThreadPoolTaskRunner
    from sluice_dask import DaskTaskRunner

    trivial_task = task(trivial, name="trivial")
    started = time.perf_counter()
    for n in range(TASKS):
        trivial(n)
    direct = time.perf_counter() - started

    dask_options = {"n_workers": 2, "threads_per_worker": 4, "processes": True}
    runners = {
        "sequential": SequentialTaskRunner(),
        "threads": ThreadPoolTaskRunner(max_workers=8),
        "dask": DaskTaskRunner(cluster_kwargs=dask_options),
    }
    for label, runner in runners.items():

        @flow(name=f"bench-{label}", task_runner=runner)
        def submit_all(count: int) -> int:
            return sum(future.result() for future in [trivial_task.submit(n) for n in range(count)])

        submit_all(10)  # warm up: the embedded API, imports
        started = time.perf_counter()
        assert submit_all(TASKS) == sum(range(1, TASKS + 1))
        wall = time.perf_counter() - started
        emit(f"tasks_{TASKS}_{label}_wall", wall, "s")
        emit(f"tasks_{TASKS}_{label}_overhead_per_task", (wall - direct) / TASKS * 1000, "ms")

    cluster_runner = DaskTaskRunner(cluster_kwargs=dask_options)
    started = time.perf_counter()
    cluster_runner.start()
    cluster_runner.shutdown()
    emit(f"tasks_{TASKS}_dask_cluster_start_stop", time.perf_counter() - started, "s")


if __name__ == "__main__":
    main()
