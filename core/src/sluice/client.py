"""The Sluice API client: ``get_client()`` returns a ``SluiceClient``; use it as a context manager.

With ``SLUICE_API_URL`` unset the client talks to an in-process app on the local SQLite database
(``sluice.embedded``), so the CLI and the Python API work with no server running; with it set, it
talks HTTP and sends ``SLUICE_API_KEY`` as a bearer token. API errors become typed exceptions:
404 ``ObjectNotFound``, 409 ``ObjectAlreadyExists``, 422 ``ConfigurationError``; an unreachable
server is one ``SluiceError`` naming the URL.

Importing this module imports neither FastAPI nor SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from sluice.errors import APIUnavailable, ConfigurationError, ObjectAlreadyExists, ObjectNotFound, SluiceError
from sluice.schemas import (
    BlockDocument,
    BlockDocumentCreate,
    BlockDocumentFilter,
    BlockDocumentUpdate,
    BlockSchema,
    BlockSchemaCreate,
    BlockType,
    BlockTypeCreate,
    Deployment,
    DeploymentCreate,
    DeploymentFilter,
    DeploymentFlowRunCreate,
    DeploymentUpdate,
    Flow,
    FlowCreate,
    FlowFilter,
    FlowRun,
    FlowRunCreate,
    FlowRunFilter,
    FlowRunStateHistory,
    FlowRunUpdate,
    Health,
    Log,
    LogCreate,
    LogFilter,
    SetStateRequest,
    SetStateResult,
    StateCreate,
    StateType,
    Version,
    WorkQueue,
    WorkQueueCreate,
    WorkQueueFilter,
    WorkQueueUpdate,
)
from sluice.schemas.scheduling import BackfillRequest, BackfillResult, UpcomingRun, WorkQueuePreview
from sluice.settings import Settings, get_settings

if TYPE_CHECKING:  # pragma: no cover
    from sluice.blocks import Block

M = TypeVar("M", bound=BaseModel)
Id = UUID | str
#: A state: a ``StateCreate``, its type (``"RUNNING"``), or its fields as a dict.
StateLike = StateCreate | StateType | str | Mapping[str, Any]

#: Answers that mean "not now" rather than "no": the request may succeed when sent again.
RETRYABLE_STATUS_CODES = frozenset({429, 502, 503, 504})

#: Base URL used for the in-process app (never resolved: requests do not leave the process).
EMBEDDED_URL = "http://embedded.sluice/api"


def _build(model: type[M], values: Mapping[str, Any]) -> M:
    """Validate a request body on the client side: a wrong argument is a ``ConfigurationError``."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        from sluice.schedules import format_validation_error

        raise ConfigurationError(f"invalid {model.__name__}: {format_validation_error(exc)}") from None


def _body(model: BaseModel) -> Any:
    return model.model_dump(mode="json", exclude_unset=True)


def _state(state: StateLike, message: str | None = None) -> StateCreate:
    if isinstance(state, StateCreate):
        return state
    if isinstance(state, Mapping):
        return _build(StateCreate, {**state, **({"message": message} if message is not None else {})})
    try:
        state_type = StateType(str(state).upper())
    except ValueError:
        known = ", ".join(member.value for member in StateType)
        raise ConfigurationError(f"unknown state type {state!r} (known: {known})") from None
    values: dict[str, Any] = {"type": state_type}
    if message is not None:
        values["message"] = message
    return _build(StateCreate, values)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text or response.reason_phrase
    if isinstance(detail, list):  # FastAPI's request validation errors
        parts = []
        for item in detail:
            location = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            parts.append(f"{location}: {item.get('msg', item)}" if location else str(item.get("msg", item)))
        return "; ".join(parts)
    return str(detail)


def _api_base(url: str) -> str:
    """``http://host:4200`` and ``http://host:4200/api/`` both mean ``http://host:4200/api``."""
    url = url.rstrip("/")
    return url if httpx.URL(url).path not in ("", "/") else f"{url}/api"


class SluiceClient:
    """Typed, synchronous access to the Sluice API.

    :param api_url: the API (default ``SLUICE_API_URL``); None uses the in-process app.
    :param api_key: sent as ``Authorization: Bearer`` (default ``SLUICE_API_KEY``).
    :param timeout: seconds to wait for an answer (default ``SLUICE_API_TIMEOUT``).
    :param transport: an httpx transport to use instead (tests: an ``EmbeddedTransport`` of their app).
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        settings: Settings | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = settings or get_settings()
        api_url = api_url or settings.api_url
        if api_key is None and settings.api_key is not None:
            api_key = settings.api_key.get_secret_value()
        timeout = settings.api_timeout if timeout is None else timeout
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if transport is not None:
            self.api_url = _api_base(api_url) if api_url else EMBEDDED_URL
        elif api_url:
            self.api_url = _api_base(api_url)
        else:
            from sluice.embedded import EmbeddedTransport, embedded_app

            self.api_url = EMBEDDED_URL
            transport = EmbeddedTransport(embedded_app(settings), timeout=timeout)
        self.is_embedded = transport is not None and not api_url
        # Plain http never uses TLS, so skip building a verifying SSL context: loading the CA bundle
        # costs ~35 ms per client, a tenth of a short CLI command. https keeps httpx's full checks.
        verify = not self.api_url.startswith("http://")
        self._http = httpx.Client(
            base_url=self.api_url, headers=headers, timeout=timeout, transport=transport, verify=verify
        )

    # -- plumbing ------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call the API and return the decoded JSON answer (None for 204); errors are typed.

        An API that cannot be reached, does not answer in time or answers 429/502/503/504 raises
        ``APIUnavailable`` (worth retrying). ``timeout`` replaces the client's read timeout for this
        call (long polls)."""
        try:
            extra: dict[str, Any] = {} if timeout is None else {"timeout": httpx.Timeout(timeout, connect=10.0)}
            response = self._http.request(method, path, json=json, params=params, **extra)
        except httpx.TimeoutException:
            raise APIUnavailable(
                f"the Sluice API at {self.api_url} did not answer within {self._http.timeout.read}s "
                "(raise SLUICE_API_TIMEOUT, or check the server)"
            ) from None
        except httpx.TransportError as exc:
            raise APIUnavailable(
                f"cannot reach the Sluice API at {self.api_url} ({type(exc).__name__}: {exc}); "
                "is `sluice server start` running there, and is SLUICE_API_URL right?"
            ) from None
        if response.status_code < 400:
            return None if response.status_code == 204 or not response.content else response.json()
        detail = _detail(response)
        where = f"{method} {path}"
        if response.status_code == 404:
            raise ObjectNotFound(detail)
        if response.status_code == 409:
            raise ObjectAlreadyExists(detail)
        if response.status_code == 422:
            raise ConfigurationError(detail)
        if response.status_code in RETRYABLE_STATUS_CODES:
            raise APIUnavailable(
                f"the Sluice API at {self.api_url} cannot answer now ({response.status_code} to {where}: {detail})"
            )
        if response.status_code == 401:
            raise SluiceError(f"the Sluice API at {self.api_url} refused the API key ({detail}); set SLUICE_API_KEY")
        raise SluiceError(f"the Sluice API at {self.api_url} answered {response.status_code} to {where}: {detail}")

    def _get(self, model: type[M], path: str, params: Mapping[str, Any] | None = None) -> M:
        return model.model_validate(self.request("GET", path, params=params))

    def _post(self, model: type[M], path: str, body: Any = None) -> M:
        return model.model_validate(self.request("POST", path, json=body))

    def _list(self, model: type[M], path: str, body: Any) -> list[M]:
        return TypeAdapter(list[model]).validate_python(self.request("POST", path, json=body))  # type: ignore[valid-type]

    # -- admin ---------------------------------------------------------------------------------

    def health(self) -> Health:
        """Check that the API and its database answer."""
        return self._get(Health, "/health")

    def version(self) -> Version:
        """The server's version."""
        return self._get(Version, "/version")

    # -- flows ---------------------------------------------------------------------------------

    def create_flow(self, name: str, tags: Iterable[str] = ()) -> Flow:
        """Create a flow, or return the existing one with that name."""
        return self._post(Flow, "/flows/", _body(_build(FlowCreate, {"name": name, "tags": list(tags)})))

    def read_flow(self, flow_id: Id) -> Flow:
        """Read a flow by id."""
        return self._get(Flow, f"/flows/{flow_id}")

    def read_flow_by_name(self, name: str) -> Flow:
        """Read a flow by name."""
        return self._get(Flow, f"/flows/name/{name}")

    def filter_flows(self, **criteria: Any) -> list[Flow]:
        """Flows matching ``FlowFilter`` criteria (``names=``, ``tags_any=``, ``limit=``…)."""
        return self._list(Flow, "/flows/filter", _body(_build(FlowFilter, criteria)))

    def delete_flow(self, flow_id: Id) -> None:
        """Delete a flow with its deployments and runs."""
        self.request("DELETE", f"/flows/{flow_id}")

    # -- deployments ---------------------------------------------------------------------------

    def create_deployment(self, name: str, flow_id: Id | None = None, **fields: Any) -> Deployment:
        """Create or update (same id) the deployment ``name`` of a flow given by ``flow_id`` or
        ``flow_name=``; other ``DeploymentCreate`` fields as keywords."""
        values = {"name": name, **fields}
        if flow_id is not None:
            values["flow_id"] = flow_id
        return self._post(Deployment, "/deployments/", _body(_build(DeploymentCreate, values)))

    def read_deployment(self, deployment_id: Id, include_secrets: bool = False) -> Deployment:
        """Read a deployment by id; secret ``infra_overrides`` masked unless ``include_secrets``."""
        params = {"include_secrets": "true"} if include_secrets else None
        return self._get(Deployment, f"/deployments/{deployment_id}", params)

    def read_deployment_by_name(self, name: str, include_secrets: bool = False) -> Deployment:
        """Read a deployment by ``"flow-name/deployment-name"``; secret ``infra_overrides`` masked
        unless ``include_secrets``."""
        flow_name, slash, deployment_name = name.partition("/")
        if not slash or not flow_name or not deployment_name or "/" in deployment_name:
            raise ConfigurationError(f"invalid deployment name {name!r}: use 'flow-name/deployment-name'")
        params = {"include_secrets": "true"} if include_secrets else None
        return self._get(Deployment, f"/deployments/name/{flow_name}/{deployment_name}", params)

    def filter_deployments(self, **criteria: Any) -> list[Deployment]:
        """Deployments matching ``DeploymentFilter`` criteria (``flow_names=``, ``tags_all=``…)."""
        return self._list(Deployment, "/deployments/filter", _body(_build(DeploymentFilter, criteria)))

    def update_deployment(self, deployment_id: Id, **fields: Any) -> Deployment:
        """Change the given fields of a deployment."""
        body = _body(_build(DeploymentUpdate, fields))
        return Deployment.model_validate(self.request("PATCH", f"/deployments/{deployment_id}", json=body))

    def delete_deployment(self, deployment_id: Id) -> None:
        """Delete a deployment."""
        self.request("DELETE", f"/deployments/{deployment_id}")

    def set_deployment_schedule_active(self, deployment_id: Id, active: bool) -> Deployment:
        """Turn a deployment's schedule on or off."""
        action = "set_schedule_active" if active else "set_schedule_inactive"
        return self._post(Deployment, f"/deployments/{deployment_id}/{action}")

    def backfill_deployment(
        self, deployment_id: Id, start: datetime, end: datetime, dry_run: bool = False, max_runs: int = 10_000
    ) -> BackfillResult:
        """Create a run for every time the deployment's active schedules fire from ``start`` to ``end``
        (inclusive), skipping times that have one; ``dry_run`` only lists them. A window holding more
        than ``max_runs`` times is a ``ConfigurationError`` naming the count."""
        values = {"start": start, "end": end, "dry_run": dry_run, "max_runs": max_runs}
        body = _build(BackfillRequest, values).model_dump(mode="json")
        return self._post(BackfillResult, f"/deployments/{deployment_id}/backfill", body)

    def create_flow_run_from_deployment(
        self,
        deployment_id: Id,
        parameters: Mapping[str, Any] | None = None,
        state: StateLike | None = None,
        **fields: Any,
    ) -> FlowRun:
        """Create a run of a deployment (parameters merged over its defaults and validated);
        further ``DeploymentFlowRunCreate`` fields (``tags``, ``idempotency_key``, ``name``…) as keywords."""
        values: dict[str, Any] = {"parameters": dict(parameters or {}), **fields}
        if state is not None:
            values["state"] = _state(state)
        body = _body(_build(DeploymentFlowRunCreate, values))
        return self._post(FlowRun, f"/deployments/{deployment_id}/create_flow_run", body)

    # -- flow runs -----------------------------------------------------------------------------

    def create_flow_run(
        self,
        flow_id: Id,
        parameters: Mapping[str, Any] | None = None,
        parent_flow_run_id: Id | None = None,
        state: StateLike | None = None,
        **fields: Any,
    ) -> FlowRun:
        """Create a run of a flow directly (``@flow`` calls); PENDING unless ``state`` says otherwise.
        Further ``FlowRunCreate`` fields (``name``, ``tags``, ``idempotency_key``, ``parent_task_run_id``…)
        as keywords."""
        values: dict[str, Any] = {"flow_id": flow_id, "parameters": dict(parameters or {}), **fields}
        if parent_flow_run_id is not None:
            values["parent_flow_run_id"] = parent_flow_run_id
        if state is not None:
            values["state"] = _state(state)
        return self._post(FlowRun, "/flow_runs/", _body(_build(FlowRunCreate, values)))

    def read_flow_run(self, flow_run_id: Id) -> FlowRun:
        """Read a flow run by id."""
        return self._get(FlowRun, f"/flow_runs/{flow_run_id}")

    def update_flow_run(self, flow_run_id: Id, **fields: Any) -> FlowRun:
        """Change a run's ``name``, ``tags``, ``agent_id`` or ``infrastructure_pid``."""
        body = _body(_build(FlowRunUpdate, fields))
        return FlowRun.model_validate(self.request("PATCH", f"/flow_runs/{flow_run_id}", json=body))

    def filter_flow_runs(self, **criteria: Any) -> list[FlowRun]:
        """Flow runs matching ``FlowRunFilter`` criteria (``deployment_ids=``, ``state_types=``…)."""
        return self._list(FlowRun, "/flow_runs/filter", _body(_build(FlowRunFilter, criteria)))

    def set_flow_run_state(
        self, flow_run_id: Id, state: StateLike, message: str | None = None, force: bool = False
    ) -> SetStateResult:
        """Propose a state; the answer says ACCEPT (with the new state) or REJECT (current state, reason)."""
        body = _body(_build(SetStateRequest, {"state": _state(state, message), "force": force}))
        return self._post(SetStateResult, f"/flow_runs/{flow_run_id}/set_state", body)

    def read_flow_run_states(self, flow_run_id: Id) -> list[FlowRunStateHistory]:
        """Every state the run entered, oldest first."""
        data = self.request("GET", f"/flow_runs/{flow_run_id}/states")
        return TypeAdapter(list[FlowRunStateHistory]).validate_python(data)

    def delete_flow_run(self, flow_run_id: Id) -> None:
        """Delete a flow run with its history and logs."""
        self.request("DELETE", f"/flow_runs/{flow_run_id}")

    def read_flow_run_tree(self, flow_run_id: Id) -> Any:
        """The run with its task runs and subflow runs, recursively (``sluice.schemas.task_runs.FlowRunTree``)."""
        from sluice.schemas.task_runs import FlowRunTree

        return self._get(FlowRunTree, f"/flow_runs/{flow_run_id}/tree")

    # -- task runs -----------------------------------------------------------------------------

    def create_task_run(self, flow_run_id: Id, name: str, task_key: str, dynamic_key: str = "0", **fields: Any) -> Any:
        """Create a task run (PENDING unless ``state=``); further ``TaskRunCreate`` fields as keywords.

        Returns ``sluice.schemas.task_runs.TaskRun``; the same ``id=`` again returns the stored run.
        """
        from sluice.schemas.task_runs import TaskRun, TaskRunCreate

        values = {"flow_run_id": flow_run_id, "name": name, "task_key": task_key, "dynamic_key": dynamic_key}
        if "state" in fields and fields["state"] is not None:
            fields["state"] = _state(fields["state"])
        return self._post(TaskRun, "/task_runs/", _body(_build(TaskRunCreate, {**values, **fields})))

    def report_task_runs(self, task_runs: Iterable[Any] = (), states: Iterable[Any] = ()) -> Any:
        """Create task runs, then apply state changes, in one request (``POST /task_runs/bulk``).

        ``task_runs`` are ``TaskRunCreate`` (or their fields as dicts), ``states`` ``TaskRunStateChange``
        (or ``{"task_run_id": ..., "state": ...}``). Returns ``TaskRunBulkResult``.
        """
        from sluice.schemas.task_runs import TaskRunBulkReport, TaskRunBulkResult

        body = _build(TaskRunBulkReport, {"task_runs": list(task_runs), "states": list(states)})
        return self._post(TaskRunBulkResult, "/task_runs/bulk", body.model_dump(mode="json", exclude_none=True))

    def read_task_run(self, task_run_id: Id) -> Any:
        """Read a task run by id (``sluice.schemas.task_runs.TaskRun``)."""
        from sluice.schemas.task_runs import TaskRun

        return self._get(TaskRun, f"/task_runs/{task_run_id}")

    def filter_task_runs(self, **criteria: Any) -> list[Any]:
        """Task runs matching ``TaskRunFilter`` criteria (``flow_run_ids=``, ``state_types=``…)."""
        from sluice.schemas.task_runs import TaskRun, TaskRunFilter

        return self._list(TaskRun, "/task_runs/filter", _body(_build(TaskRunFilter, criteria)))

    def set_task_run_state(
        self, task_run_id: Id, state: StateLike, message: str | None = None, force: bool = False
    ) -> SetStateResult:
        """Propose a state for a task run; the answer says ACCEPT or REJECT (current state, reason)."""
        body = _body(_build(SetStateRequest, {"state": _state(state, message), "force": force}))
        return self._post(SetStateResult, f"/task_runs/{task_run_id}/set_state", body)

    def read_task_run_states(self, task_run_id: Id) -> list[Any]:
        """Every state the task run entered, oldest first (``TaskRunStateHistory``)."""
        from sluice.schemas.task_runs import TaskRunStateHistory

        data = self.request("GET", f"/task_runs/{task_run_id}/states")
        return TypeAdapter(list[TaskRunStateHistory]).validate_python(data)

    def delete_task_run(self, task_run_id: Id) -> None:
        """Delete a task run with its state history."""
        self.request("DELETE", f"/task_runs/{task_run_id}")

    # -- logs ----------------------------------------------------------------------------------

    def create_logs(self, records: Iterable[LogCreate | Mapping[str, Any]]) -> int:
        """Ship log records (``flow_run_id``, ``level``, ``message``, ``timestamp``…); returns how many."""
        body = [_body(r if isinstance(r, LogCreate) else _build(LogCreate, r)) for r in records]
        if not body:
            return 0
        return int(self.request("POST", "/logs/", json=body)["created"])

    def filter_logs(self, flow_run_id: Id | None = None, **criteria: Any) -> list[Log]:
        """Log records in timestamp order, of one run or by ``LogFilter`` criteria."""
        if flow_run_id is not None:
            criteria["flow_run_ids"] = [flow_run_id]
        return self._list(Log, "/logs/filter", _body(_build(LogFilter, criteria)))

    # -- work queues ---------------------------------------------------------------------------

    def create_work_queue(self, name: str, **fields: Any) -> WorkQueue:
        """Create a work queue (``ObjectAlreadyExists`` if the name is taken)."""
        return self._post(WorkQueue, "/work_queues/", _body(_build(WorkQueueCreate, {"name": name, **fields})))

    def read_work_queue(self, work_queue_id: Id) -> WorkQueue:
        """Read a work queue by id."""
        return self._get(WorkQueue, f"/work_queues/{work_queue_id}")

    def read_work_queue_by_name(self, name: str) -> WorkQueue:
        """Read a work queue by name."""
        return self._get(WorkQueue, f"/work_queues/name/{name}")

    def update_work_queue(self, work_queue_id: Id, **fields: Any) -> WorkQueue:
        """Change the given fields of a work queue (``is_paused=True`` pauses it)."""
        body = _body(_build(WorkQueueUpdate, fields))
        return WorkQueue.model_validate(self.request("PATCH", f"/work_queues/{work_queue_id}", json=body))

    def filter_work_queues(self, **criteria: Any) -> list[WorkQueue]:
        """Work queues matching ``WorkQueueFilter`` criteria."""
        return self._list(WorkQueue, "/work_queues/filter", _body(_build(WorkQueueFilter, criteria)))

    def delete_work_queue(self, work_queue_id: Id) -> None:
        """Delete a work queue."""
        self.request("DELETE", f"/work_queues/{work_queue_id}")

    def preview_work_queues(
        self, names: Iterable[str] | None = None, hours: float = 24.0, limit: int = 200
    ) -> list[UpcomingRun]:
        """The SCHEDULED runs (Late ones included) due within ``hours`` in the queues ``names``
        (default: every queue), soonest first."""
        values: dict[str, Any] = {"hours": hours, "limit": limit}
        if names is not None:
            values["work_queue_names"] = list(names)
        return self._list(UpcomingRun, "/work_queues/preview", _body(_build(WorkQueuePreview, values)))

    def pause_work_queue(self, work_queue_id: Id) -> WorkQueue:
        """Pause a work queue: agents claim nothing from it until it is resumed."""
        return self.update_work_queue(work_queue_id, is_paused=True)

    def resume_work_queue(self, work_queue_id: Id) -> WorkQueue:
        """Resume a paused work queue."""
        return self.update_work_queue(work_queue_id, is_paused=False)

    def set_work_queue_concurrency_limit(self, work_queue_id: Id, limit: int | None) -> WorkQueue:
        """At most ``limit`` runs of the queue PENDING or RUNNING at once (None: no limit)."""
        return self.update_work_queue(work_queue_id, concurrency_limit=limit)

    def claim_flow_runs(
        self,
        queues: Iterable[str],
        agent_id: Id,
        limit: int = 10,
        prefetch_seconds: float = 0.0,
        wait_seconds: float = 0.0,
        match: str | None = None,
    ) -> list[FlowRun]:
        """Claim up to ``limit`` due runs of ``queues`` for an agent (they become PENDING); with
        ``wait_seconds``, a long poll that answers as soon as one is due."""
        from sluice.schemas.agents import ClaimFlowRuns

        values = {
            "queues": list(queues),
            "agent_id": agent_id,
            "limit": limit,
            "prefetch_seconds": prefetch_seconds,
            "wait_seconds": wait_seconds,
            "match": match,
        }
        body = _body(_build(ClaimFlowRuns, values))
        read_timeout = self._http.timeout.read or 30.0
        data = self.request("POST", "/work_queues/claim", json=body, timeout=wait_seconds + read_timeout)
        return TypeAdapter(list[FlowRun]).validate_python(data)

    # -- agents --------------------------------------------------------------------------------

    def register_agent(self, name: str, queues: Iterable[str] = (), agent_id: Id | None = None) -> Any:
        """Register an agent (again, with ``agent_id``); returns ``sluice.schemas.agents.Agent``."""
        from sluice.schemas.agents import Agent, AgentCreate

        values: dict[str, Any] = {"name": name, "queues": list(queues)}
        if agent_id is not None:
            values["id"] = agent_id
        return self._post(Agent, "/agents/", _body(_build(AgentCreate, values)))

    def agent_heartbeat(self, agent_id: Id) -> Any:
        """Tell the server the agent is alive; the answer (``AgentHeartbeat``) lists its runs being cancelled."""
        from sluice.schemas.agents import AgentHeartbeat

        return self._post(AgentHeartbeat, f"/agents/{agent_id}/heartbeat")

    def read_agent(self, agent_id: Id) -> Any:
        """Read an agent by id."""
        from sluice.schemas.agents import Agent

        return self._get(Agent, f"/agents/{agent_id}")

    def filter_agents(self, **criteria: Any) -> list[Any]:
        """Agents matching ``AgentFilter`` criteria (``names=``, ``ids=``), the most recently seen first."""
        from sluice.schemas.agents import Agent, AgentFilter

        return self._list(Agent, "/agents/filter", _body(_build(AgentFilter, criteria)))

    # -- blocks --------------------------------------------------------------------------------

    def create_block_type(self, slug: str, name: str, **fields: Any) -> BlockType:
        """Register a block type (updated in place when the slug exists)."""
        body = _body(_build(BlockTypeCreate, {"slug": slug, "name": name, **fields}))
        return self._post(BlockType, "/block_types/", body)

    def read_block_type_by_slug(self, slug: str) -> BlockType:
        """Read a block type by slug."""
        return self._get(BlockType, f"/block_types/slug/{slug}")

    def create_block_schema(self, block_type_slug: str, **fields: Any) -> BlockSchema:
        """Register a block schema (``fields``, ``secret_fields``, ``capabilities``, ``checksum``)."""
        body = _body(_build(BlockSchemaCreate, {"block_type_slug": block_type_slug, **fields}))
        return self._post(BlockSchema, "/block_schemas/", body)

    def create_block_document(
        self, block_type_slug: str, name: str, data: Mapping[str, Any], block_schema_id: Id | None = None
    ) -> BlockDocument:
        """Save block data under a name (``ObjectAlreadyExists`` if the name is taken for the type)."""
        values = {"block_type_slug": block_type_slug, "name": name, "data": dict(data)}
        if block_schema_id is not None:
            values["block_schema_id"] = block_schema_id
        return self._post(BlockDocument, "/block_documents/", _body(_build(BlockDocumentCreate, values)))

    def read_block_document(self, block_document_id: Id, include_secrets: bool = False) -> BlockDocument:
        """Read a block document by id; secrets masked unless ``include_secrets``."""
        params = {"include_secrets": str(include_secrets).lower()}
        return self._get(BlockDocument, f"/block_documents/{block_document_id}", params=params)

    def read_block_document_by_name(
        self, block_type_slug: str, name: str, include_secrets: bool = False
    ) -> BlockDocument:
        """Read a block document by type slug and name; secrets masked unless ``include_secrets``."""
        params = {"include_secrets": str(include_secrets).lower()}
        return self._get(BlockDocument, f"/block_documents/name/{block_type_slug}/{name}", params=params)

    def update_block_document(
        self, block_document_id: Id, data: Mapping[str, Any], merge_existing_data: bool = True, **fields: Any
    ) -> BlockDocument:
        """Change a document's data (merged into the stored data by default)."""
        values = {"data": dict(data), "merge_existing_data": merge_existing_data, **fields}
        body = _body(_build(BlockDocumentUpdate, values))
        return BlockDocument.model_validate(self.request("PATCH", f"/block_documents/{block_document_id}", json=body))

    def filter_block_documents(self, **criteria: Any) -> list[BlockDocument]:
        """Block documents matching ``BlockDocumentFilter`` criteria (``block_type_slugs=``, ``names=``)."""
        return self._list(BlockDocument, "/block_documents/filter", _body(_build(BlockDocumentFilter, criteria)))

    def delete_block_document(self, block_document_id: Id) -> None:
        """Delete a block document (``ObjectAlreadyExists`` while a deployment uses it)."""
        self.request("DELETE", f"/block_documents/{block_document_id}")

    def save_block(self, block: Block, name: str, overwrite: bool = False) -> BlockDocument:
        """Save a block as the document ``name`` of its type, registering the type and schema first.

        An existing document of that name is ``ObjectAlreadyExists`` unless ``overwrite``, which
        replaces its data.
        """
        cls = type(block)
        self.create_block_type(cls.block_type_slug, cls.display_name(), description=cls.description() or None)
        schema = self.create_block_schema(cls.block_type_slug, **cls.block_schema())
        data = block.data(include_secrets=True)
        try:
            return self.create_block_document(cls.block_type_slug, name, data, block_schema_id=schema.id)
        except ObjectAlreadyExists:
            if not overwrite:
                raise ObjectAlreadyExists(
                    f"block {cls.block_type_slug}/{name} already exists; save it with overwrite=True to replace it"
                ) from None
        existing = self.read_block_document_by_name(cls.block_type_slug, name)
        return self.update_block_document(existing.id, data, merge_existing_data=False, block_schema_id=schema.id)


def get_client(settings: Settings | None = None, **options: Any) -> SluiceClient:
    """A ``SluiceClient`` for the current settings (``api_url``, ``api_key`` and ``timeout`` may be given)."""
    return SluiceClient(settings=settings, **options)
