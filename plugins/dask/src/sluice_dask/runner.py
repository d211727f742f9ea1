"""``DaskTaskRunner``: each attempt of a submitted task runs on a Dask worker.

How task runs are recorded (see ``sluice.task_runners``): the flow's engine records every task run
and state itself; a Dask worker only calls the ``TaskAttempt`` it is sent — the task's function —
and sends back its ``AttemptOutcome``: the result or the error with its traceback as text, when it
started and ended, and the log records the task made (``get_run_logger()`` works on the worker).
Workers therefore need no API URL, no API key and no route to the Sluice server: only the flow's
code and Sluice itself importable. Flow files Sluice imported by path travel with each task
(pickled by value); modules beside them must be importable on the workers.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys
import threading
from typing import Any

from sluice.errors import ConfigurationError
from sluice.task_runners import AttemptOutcome, TaskAttempt, TaskRunner

#: The environment variable naming an existing scheduler when the runner is given no address.
ADDRESS_VARIABLE = "SLUICE_DASK_ADDRESS"


class DaskTaskRunner(TaskRunner):
    """Runs submitted tasks on a Dask cluster.

    :param address: an existing scheduler (``tcp://host:8786``); default ``SLUICE_DASK_ADDRESS``, and
        when that is unset too, a ``distributed.LocalCluster`` started for each flow run and closed
        at its end (on 127.0.0.1, no dashboard unless ``cluster_kwargs`` asks for one).
    :param cluster_kwargs: arguments of ``LocalCluster`` (``n_workers``, ``threads_per_worker``,
        ``processes``…); ignored with an address.
    :param client_kwargs: arguments of ``distributed.Client`` (``timeout``, ``security``…).
    """

    slug = "dask"

    def __init__(
        self,
        address: str | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        client_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if address is not None and not isinstance(address, str):
            raise ConfigurationError(f"DaskTaskRunner: address must be a scheduler address string, not {address!r}")
        self.address = address
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.client_kwargs = dict(client_kwargs or {})
        self._client: Any = None
        self._cluster: Any = None
        self._lock = threading.Lock()
        #: Dask forgets a task whose future is dropped: keep each one until its outcome is copied.
        self._running: dict[str, Any] = {}

    def duplicate(self) -> DaskTaskRunner:
        """A new, unstarted runner with the same settings."""
        return DaskTaskRunner(self.address, self.cluster_kwargs, self.client_kwargs)

    def describe(self) -> str:
        """``DaskTaskRunner(address=...)`` or ``DaskTaskRunner(LocalCluster)``."""
        return f"DaskTaskRunner(address={self._address()!r})" if self._address() else "DaskTaskRunner(LocalCluster)"

    def _address(self) -> str | None:
        return self.address or os.environ.get(ADDRESS_VARIABLE) or None

    def start(self) -> None:
        """Connect to the scheduler, or start a local cluster and connect to it."""
        from distributed import Client, LocalCluster

        address = self._address()
        if address:
            self._client = Client(address, set_as_default=False, **self.client_kwargs)
            return
        # Never listen beyond this machine unless asked: the scheduler, and its HTTP endpoint (which
        # Dask starts even without a dashboard, by default on every interface).
        options: dict[str, Any] = {"dashboard_address": None, **self.cluster_kwargs}
        if options.get("processes", True) and "protocol" not in options:
            options.setdefault("host", "127.0.0.1")
        options["scheduler_kwargs"] = {"dashboard_address": "127.0.0.1:0", **options.get("scheduler_kwargs", {})}
        self._cluster = LocalCluster(**options)
        try:
            self._client = Client(self._cluster, set_as_default=False, **self.client_kwargs)
        except BaseException:
            self._cluster.close()
            self._cluster = None
            raise

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` of the running flow run (None before ``start``)."""
        return self._client

    def submit(self, attempt: TaskAttempt) -> concurrent.futures.Future[AttemptOutcome]:
        """Send ``attempt`` to the cluster; a future of its outcome."""
        if self._client is None:
            raise ConfigurationError("DaskTaskRunner.submit called before start()")
        _ship_flow_files(attempt)
        key = f"{attempt.task_run_name}-{attempt.task_run_id}-{attempt.attempt}"
        outcome: concurrent.futures.Future[AttemptOutcome] = concurrent.futures.Future()
        dask_future = self._client.submit(attempt, key=key, pure=False)
        with self._lock:
            self._running[key] = dask_future

        def copy_outcome(done: Any) -> None:
            try:
                outcome.set_result(done.result())
            except BaseException as exc:  # the worker died, or the attempt could not be sent
                outcome.set_exception(exc)
            finally:
                with self._lock:
                    self._running.pop(key, None)

        dask_future.add_done_callback(copy_outcome)
        return outcome

    def shutdown(self) -> None:
        """Close the client, and the local cluster if this runner started one."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        with self._lock:
            self._running.clear()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _ship_flow_files(attempt: TaskAttempt) -> None:
    """Pickle flow files imported by path by value: workers cannot import them by name."""
    import cloudpickle

    for name in attempt.modules_to_ship():
        module = sys.modules.get(name)
        if module is not None:
            try:
                cloudpickle.register_pickle_by_value(module)
            except ValueError:
                pass  # registered already
