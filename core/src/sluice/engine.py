"""The engine: runs one flow run of a deployment. ``python -m sluice.engine`` inside the infrastructure.

The flow run id comes from ``SLUICE__FLOW_RUN_ID``. The engine reads the run and its deployment,
pulls the code from the storage block into a fresh working folder (or uses the deployment's local
``path``), imports the entrypoint, validates the parameters, sets RUNNING — and exits without running
anything if the server refuses because the run was claimed or finished elsewhere — runs the flow
with its retries and timeout, ships the logs and sets COMPLETED or FAILED with the error.

Through outages: reading the run and setting RUNNING are retried for ``SLUICE_ENGINE_START_TIMEOUT``;
later states and logs the API cannot take are spooled on disk and delivered in order when it answers,
and the engine does not exit before they are, or ``SLUICE_ENGINE_REPORT_RETENTION`` has passed
(``sluice.reporting``). A watchdog stops the flow when its agent is gone or its run was ended on the
API (``sluice.watchdog``).

Exit codes: 0 when the run completed (or was not ours to run), 1 when it failed, 2 when the engine
could not read or start the run, 3 when the run ended but its reports could not be delivered within
the retention, 143 when the flow was stopped (SIGTERM, or by its watchdog).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from sluice.errors import ConfigurationError, FlowRunStopped, RunNotClaimable, RunNotStarted, SluiceError

FLOW_RUN_ID_VARIABLE = "SLUICE__FLOW_RUN_ID"
T = TypeVar("T")


def execute_flow_run(flow_run_id: UUID | str) -> Any:
    """Run the flow run ``flow_run_id`` in this process and return its final state (``sluice.schemas.State``).

    The flow's own errors do not raise: they end the run FAILED, and the state says why. Once the
    run has ended, waits (at most ``SLUICE_ENGINE_REPORT_RETENTION``) for its spooled reports to be
    delivered; when the API still cannot be reached, the state returned is the one the engine proposed.
    Raises ``RunNotStarted`` when the API did not answer in time to start it.
    """
    from sluice.client import get_client
    from sluice.errors import APIUnavailable
    from sluice.logging import flush_logs, run_logger_for
    from sluice.reporting import get_reporter
    from sluice.runner import set_state, wait_for_reports

    run_id = UUID(str(flow_run_id))
    deadline = time.monotonic() + get_reporter().start_timeout
    with get_client() as client:
        run = read_through_outage(lambda: client.read_flow_run(run_id), deadline)
        if run.deployment_id is None:
            raise ConfigurationError(f"flow run {run_id} has no deployment: the engine runs deployment runs only")
        deployment = read_through_outage(lambda: client.read_deployment(run.deployment_id), deadline)
    logger = run_logger_for(run.id, run.name, deployment.flow_name or "?")
    try:
        with code_folder(deployment, deadline) as folder:
            flow = load_deployment_flow(deployment, folder)
            _orchestrate(flow, run)
    except SluiceError as exc:  # the code could not be pulled or imported: the flow never started
        if isinstance(exc, RunNotStarted):
            raise
        logger.error("Flow could not be loaded: %s", exc)
        flush_logs()
        with get_client() as client:
            set_state(client, run.id, "FAILED", message=f"Flow could not be loaded: {exc}")
    wait_for_reports()
    try:
        with get_client() as client:
            return client.read_flow_run(run_id).state
    except APIUnavailable:
        return get_reporter().proposed.get(str(run_id))


def read_through_outage(read: Callable[[], T], deadline: float) -> T:
    """``read()``, retried with backoff while the API cannot be reached, until ``deadline``.

    Raises ``RunNotStarted`` when the API did not answer in time.
    """
    from sluice.backoff import GaveUp, retry
    from sluice.errors import APIUnavailable
    from sluice.reporting import say

    warned = False

    def note(exc: BaseException, delay: float) -> None:
        nonlocal warned
        if not warned:
            warned = True
            left = max(0.0, deadline - time.monotonic())
            say(f"{exc}; retrying for up to {left:.0f}s (SLUICE_ENGINE_START_TIMEOUT)")

    try:
        return retry(read, APIUnavailable, deadline=deadline, on_retry=note)
    except GaveUp as exc:
        raise RunNotStarted(f"the API did not answer within SLUICE_ENGINE_START_TIMEOUT: {exc}") from None


def _orchestrate(flow: Any, run: Any) -> None:
    """Run the flow; its own errors are recorded in the run's FAILED state, not raised."""
    from sluice.runner import orchestrate_flow_run

    try:
        orchestrate_flow_run(flow, run.id, run.name, run.parameters)
    except RunNotClaimable as exc:
        _say(f"{exc}; not running it.")
    except RunNotStarted:
        raise
    except Exception:
        pass  # the run is FAILED with the error's message, and the error is in its logs


def load_deployment_flow(deployment: Any, folder: Path) -> Any:
    """Import the deployment's entrypoint from ``folder`` (the folder on ``sys.path`` while it imports)."""
    from sluice.flows import load_flow_from_entrypoint

    if not deployment.entrypoint:
        raise ConfigurationError(f"deployment {deployment.flow_name}/{deployment.name} has no entrypoint")
    sys.path.insert(0, str(folder))
    try:
        return load_flow_from_entrypoint(deployment.entrypoint, folder)
    finally:
        try:
            sys.path.remove(str(folder))
        except ValueError:
            pass


@contextmanager
def code_folder(deployment: Any, deadline: float | None = None) -> Iterator[Path]:
    """The folder the flow's code is in, current while the flow runs.

    With a storage block: a fresh temporary folder the code is downloaded into (removed afterwards).
    Without: the deployment's local ``path``. Reading the storage block is retried through an
    outage of the API until ``deadline``.
    """
    previous = Path.cwd()
    temporary: Path | None = None
    try:
        if deployment.storage_document_id:
            storage = _load_storage(deployment.storage_document_id, deadline)
            temporary = Path(tempfile.mkdtemp(prefix="sluice-flow-run-"))
            storage.get_directory(from_path=deployment.path, local_path=temporary)
            folder = temporary
        else:
            folder = Path(deployment.path or ".").expanduser()
            if not folder.is_dir():
                raise ConfigurationError(
                    f"the deployment's path {str(folder)!r} is not a folder on this machine; "
                    "give the deployment a storage block, or run it where the folder exists"
                )
        os.chdir(folder)
        yield folder.resolve()
    finally:
        os.chdir(previous)
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def _load_storage(document_id: UUID, deadline: float | None = None) -> Any:
    from sluice.client import get_client
    from sluice.plugins import get_registry

    with get_client() as client:
        read = lambda: client.read_block_document(document_id, include_secrets=True)  # noqa: E731
        document = read() if deadline is None else read_through_outage(read, deadline)
    block = get_registry("storage").get(document.block_type_slug).from_data(document.data)
    block._block_document_id = document.id
    block._block_document_name = document.name
    return block


def create_local_run(name: str, parameters: dict[str, Any] | None = None) -> Any:
    """Create a run of the deployment ``flow/name`` that no agent will pick up (it starts PENDING)."""
    from sluice.client import get_client
    from sluice.deployments import check_parameters, read_deployment
    from sluice.schemas import StateCreate

    with get_client() as client:
        deployment = read_deployment(client, name)
        if parameters and deployment.parameter_openapi_schema:
            check_parameters(parameters, deployment.parameter_openapi_schema)
        return client.create_flow_run_from_deployment(
            deployment.id, parameters=parameters or {}, state=StateCreate(type="PENDING")
        )


def main() -> int:
    """``python -m sluice.engine``: run the flow run named by ``SLUICE__FLOW_RUN_ID``; return the exit code."""
    flow_run_id = os.environ.get(FLOW_RUN_ID_VARIABLE)
    if not flow_run_id:
        _say(f"set {FLOW_RUN_ID_VARIABLE} to the id of the flow run to execute")
        return 2
    try:
        run_id = UUID(flow_run_id)
    except ValueError:
        _say(f"{FLOW_RUN_ID_VARIABLE}={flow_run_id!r} is not a flow run id (a UUID)")
        return 2
    from sluice.reporting import get_reporter, use_spool_of
    from sluice.settings import get_settings
    from sluice.watchdog import Watchdog

    use_spool_of(run_id)
    watchdog = Watchdog.for_engine(run_id, get_settings())
    watchdog.start()
    try:
        state = execute_flow_run(run_id)
    except FlowRunStopped as exc:
        return _stopped(watchdog, run_id, exc)
    except (SluiceError, ValueError) as exc:
        _say(f"cannot execute flow run {flow_run_id}: {exc}")
        return 2
    finally:
        watchdog.close()
    if get_reporter().pending():
        return 3  # the run ended, but the API never heard of it: the agent reports what it saw
    if state is None or state.type.value in ("COMPLETED", "PENDING", "RUNNING", "SCHEDULED"):
        return 0  # completed, or claimed by someone else: not our failure to report
    return 1


def _stopped(watchdog: Any, run_id: UUID, exc: FlowRunStopped) -> int:
    """After the flow was stopped: deliver what is spooled, let the watchdog finish its kill."""
    from sluice.runner import wait_for_reports

    watchdog.unwound()
    _say(f"flow run {run_id} stopped: {exc}")
    if watchdog.stopping:
        watchdog.wait_stopped()
    wait_for_reports()
    return 143


def _say(message: str) -> None:
    from sluice.reporting import say

    say(message, prefix="sluice.engine")


if __name__ == "__main__":
    from sluice.startup import skip_httpx_command_line

    skip_httpx_command_line()
    sys.exit(main())
