"""The engine: runs one flow run of a deployment. ``python -m sluice.engine`` inside the infrastructure.

The flow run id comes from ``SLUICE__FLOW_RUN_ID``. The engine reads the run and its deployment,
pulls the code from the storage block into a fresh working folder (or uses the deployment's local
``path``), imports the entrypoint, validates the parameters, sets RUNNING — and exits without running
anything if the server refuses because the run was claimed or finished elsewhere — runs the flow
with its retries and timeout, ships the logs and sets COMPLETED or FAILED with the error.

Exit codes: 0 when the run completed (or was not ours to run), 1 when it failed, 2 when the engine
could not even read the run.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from sluice.errors import ConfigurationError, RunNotClaimable, SluiceError

FLOW_RUN_ID_VARIABLE = "SLUICE__FLOW_RUN_ID"


def execute_flow_run(flow_run_id: UUID | str) -> Any:
    """Run the flow run ``flow_run_id`` in this process and return its final state (``sluice.schemas.State``).

    The flow's own errors do not raise: they end the run FAILED, and the state says why.
    """
    from sluice.client import get_client
    from sluice.logging import flush_logs, run_logger_for
    from sluice.runner import set_state

    run_id = UUID(str(flow_run_id))
    with get_client() as client:
        run = client.read_flow_run(run_id)
        if run.deployment_id is None:
            raise ConfigurationError(f"flow run {run_id} has no deployment: the engine runs deployment runs only")
        deployment = client.read_deployment(run.deployment_id)
    logger = run_logger_for(run.id, run.name, deployment.flow_name or "?")
    try:
        with code_folder(deployment) as folder:
            flow = load_deployment_flow(deployment, folder)
            _orchestrate(flow, run)
    except SluiceError as exc:  # the code could not be pulled or imported: the flow never started
        logger.error("Flow could not be loaded: %s", exc)
        flush_logs()
        with get_client() as client:
            set_state(client, run.id, "FAILED", message=f"Flow could not be loaded: {exc}")
    with get_client() as client:
        return client.read_flow_run(run_id).state


def _orchestrate(flow: Any, run: Any) -> None:
    """Run the flow; its own errors are recorded in the run's FAILED state, not raised."""
    from sluice.runner import orchestrate_flow_run

    try:
        orchestrate_flow_run(flow, run.id, run.name, run.parameters)
    except RunNotClaimable as exc:
        print(f"sluice.engine: {exc}; not running it.", file=sys.stderr)
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
def code_folder(deployment: Any) -> Iterator[Path]:
    """The folder the flow's code is in, current while the flow runs.

    With a storage block: a fresh temporary folder the code is downloaded into (removed afterwards).
    Without: the deployment's local ``path``.
    """
    previous = Path.cwd()
    temporary: Path | None = None
    try:
        if deployment.storage_document_id:
            storage = _load_storage(deployment.storage_document_id)
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


def _load_storage(document_id: UUID) -> Any:
    from sluice.client import get_client
    from sluice.plugins import get_registry

    with get_client() as client:
        document = client.read_block_document(document_id, include_secrets=True)
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
        print(f"sluice.engine: set {FLOW_RUN_ID_VARIABLE} to the id of the flow run to execute", file=sys.stderr)
        return 2
    try:
        state = execute_flow_run(flow_run_id)
    except (SluiceError, ValueError) as exc:
        print(f"sluice.engine: cannot execute flow run {flow_run_id}: {exc}", file=sys.stderr)
        return 2
    if state is None or state.type.value in ("COMPLETED", "PENDING", "RUNNING", "SCHEDULED"):
        return 0  # completed, or claimed by someone else: not our failure to report
    return 1


if __name__ == "__main__":
    from sluice.startup import skip_httpx_command_line

    skip_httpx_command_line()
    sys.exit(main())
