"""The 'dask' task runner for Sluice (distribution `sluice-dask`): a flow's submitted tasks run on a
Dask cluster — an existing scheduler (``DaskTaskRunner(address="tcp://scheduler:8786")``, or
``SLUICE_DASK_ADDRESS``), or a ``distributed.LocalCluster`` started for the flow run.

    from sluice import flow
    from sluice_dask import DaskTaskRunner

    @flow(task_runner=DaskTaskRunner(address="tcp://10.0.0.5:8786"))   # or task_runner="dask"
    def crunch(parts: list[str]): ...

Nothing here imports Dask until a flow run starts the runner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sluice.hookspecs import Register, hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from sluice_dask.runner import DaskTaskRunner

__all__ = ["DaskTaskRunner"]


def __getattr__(name: str) -> Any:
    """``DaskTaskRunner`` on first use (keeps ``import sluice_dask`` cheap for the plugin manager)."""
    if name == "DaskTaskRunner":
        from sluice_dask.runner import DaskTaskRunner

        return DaskTaskRunner
    raise AttributeError(f"module 'sluice_dask' has no attribute {name!r}")


@hookimpl
def register_task_runners(register: Register) -> None:
    """Register ``DaskTaskRunner`` under the slug 'dask'."""
    from sluice_dask.runner import DaskTaskRunner

    register(DaskTaskRunner)
