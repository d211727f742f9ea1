"""The UI's way to the data: the server's own REST API, called in-process.

Every page asks ``/api/...`` through an httpx client whose transport is the app itself, so the UI
shows and changes exactly what the API allows, with the same validation and the same errors. When
``SLUICE_API_KEY`` is set the client sends it, as any other client would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import httpx
from fastapi import Request
from pydantic import BaseModel, TypeAdapter

from sluice.schemas import (
    BlockDocument,
    BlockSchema,
    BlockType,
    Deployment,
    Flow,
    FlowRun,
    FlowRunStateHistory,
    Log,
    WorkQueue,
)

M = TypeVar("M", bound=BaseModel)

#: Base URL of the in-process calls; the host is never resolved.
INTERNAL_URL = "http://sluice-ui.internal/api"


class ApiError(Exception):
    """The API refused a call: its status code and its ``detail`` text."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text or response.reason_phrase
    if isinstance(detail, list):  # FastAPI's request validation errors
        parts = []
        for item in detail:
            location = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            message = str(item.get("msg", item))
            parts.append(f"{location}: {message}" if location else message)
        return "; ".join(parts)
    return str(detail)


class UiApi:
    """Typed calls to the app's own ``/api`` routes."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """Call ``/api{path}``; the decoded JSON answer, or ``ApiError`` for a 4xx/5xx."""
        response = await self._http.request(method, path, json=json, params=params)
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response))
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def _one(self, model: type[M], method: str, path: str, json: Any = None) -> M:
        return model.model_validate(await self.call(method, path, json=json))

    async def _many(self, model: type[M], path: str, body: dict[str, Any]) -> list[M]:
        data = await self.call("POST", path, json=body)
        return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]

    # -- deployments ------------------------------------------------------------------------

    async def deployments(self, **criteria: Any) -> list[Deployment]:
        """``POST /deployments/filter``."""
        return await self._many(Deployment, "/deployments/filter", criteria)

    async def deployment(self, deployment_id: str) -> Deployment:
        """``GET /deployments/{id}``."""
        return await self._one(Deployment, "GET", f"/deployments/{deployment_id}")

    async def update_deployment(self, deployment_id: str, fields: dict[str, Any]) -> Deployment:
        """``PATCH /deployments/{id}`` with the fields given."""
        return await self._one(Deployment, "PATCH", f"/deployments/{deployment_id}", json=fields)

    async def set_schedule_active(self, deployment_id: str, active: bool) -> Deployment:
        """Turn a deployment's schedule on or off."""
        action = "set_schedule_active" if active else "set_schedule_inactive"
        return await self._one(Deployment, "POST", f"/deployments/{deployment_id}/{action}")

    async def delete_deployment(self, deployment_id: str) -> None:
        """``DELETE /deployments/{id}``."""
        await self.call("DELETE", f"/deployments/{deployment_id}")

    async def create_flow_run(self, deployment_id: str, body: dict[str, Any]) -> FlowRun:
        """``POST /deployments/{id}/create_flow_run``."""
        return await self._one(FlowRun, "POST", f"/deployments/{deployment_id}/create_flow_run", json=body)

    # -- flows and flow runs ----------------------------------------------------------------

    async def flows(self, **criteria: Any) -> list[Flow]:
        """``POST /flows/filter``."""
        return await self._many(Flow, "/flows/filter", criteria)

    async def flow_names(self, flow_ids: Sequence[Any]) -> dict[str, str]:
        """Flow names by flow id (as text) for the ids given."""
        ids = sorted({str(flow_id) for flow_id in flow_ids})
        if not ids:
            return {}
        return {str(flow.id): flow.name for flow in await self.flows(ids=ids, limit=1000)}

    async def flow_runs(self, **criteria: Any) -> list[FlowRun]:
        """``POST /flow_runs/filter``."""
        return await self._many(FlowRun, "/flow_runs/filter", criteria)

    async def flow_run(self, flow_run_id: str) -> FlowRun:
        """``GET /flow_runs/{id}``."""
        return await self._one(FlowRun, "GET", f"/flow_runs/{flow_run_id}")

    async def flow_run_states(self, flow_run_id: str) -> list[FlowRunStateHistory]:
        """``GET /flow_runs/{id}/states``, oldest first."""
        data = await self.call("GET", f"/flow_runs/{flow_run_id}/states")
        return TypeAdapter(list[FlowRunStateHistory]).validate_python(data)

    async def set_state(self, flow_run_id: str, state: dict[str, Any]) -> dict[str, Any]:
        """``POST /flow_runs/{id}/set_state``; the answer (ACCEPT or REJECT with a reason)."""
        return await self.call("POST", f"/flow_runs/{flow_run_id}/set_state", json={"state": state})

    async def logs(self, **criteria: Any) -> list[Log]:
        """``POST /logs/filter``."""
        return await self._many(Log, "/logs/filter", criteria)

    # -- work queues ------------------------------------------------------------------------

    async def work_queues(self, **criteria: Any) -> list[WorkQueue]:
        """``POST /work_queues/filter``."""
        return await self._many(WorkQueue, "/work_queues/filter", criteria)

    async def work_queue(self, work_queue_id: str) -> WorkQueue:
        """``GET /work_queues/{id}``."""
        return await self._one(WorkQueue, "GET", f"/work_queues/{work_queue_id}")

    async def create_work_queue(self, body: dict[str, Any]) -> WorkQueue:
        """``POST /work_queues/``."""
        return await self._one(WorkQueue, "POST", "/work_queues/", json=body)

    async def update_work_queue(self, work_queue_id: str, fields: dict[str, Any]) -> WorkQueue:
        """``PATCH /work_queues/{id}``."""
        return await self._one(WorkQueue, "PATCH", f"/work_queues/{work_queue_id}", json=fields)

    # -- blocks -----------------------------------------------------------------------------

    async def block_types(self) -> list[BlockType]:
        """``POST /block_types/filter``."""
        return await self._many(BlockType, "/block_types/filter", {"limit": 1000})

    async def block_schema_for(self, slug: str) -> BlockSchema | None:
        """The newest schema of the block type ``slug``, or None."""
        found = await self._many(BlockSchema, "/block_schemas/filter", {"block_type_slugs": [slug], "limit": 1})
        return found[0] if found else None

    async def block_schema(self, block_schema_id: str) -> BlockSchema:
        """``GET /block_schemas/{id}``."""
        return await self._one(BlockSchema, "GET", f"/block_schemas/{block_schema_id}")

    async def block_documents(self, **criteria: Any) -> list[BlockDocument]:
        """``POST /block_documents/filter`` (secrets always masked: the UI never asks for them)."""
        return await self._many(BlockDocument, "/block_documents/filter", criteria)

    async def block_document(self, block_document_id: str) -> BlockDocument:
        """``GET /block_documents/{id}``, secrets masked."""
        return await self._one(BlockDocument, "GET", f"/block_documents/{block_document_id}")

    async def create_block_document(self, body: dict[str, Any]) -> BlockDocument:
        """``POST /block_documents/``."""
        return await self._one(BlockDocument, "POST", "/block_documents/", json=body)

    async def update_block_document(self, block_document_id: str, body: dict[str, Any]) -> BlockDocument:
        """``PATCH /block_documents/{id}``."""
        return await self._one(BlockDocument, "PATCH", f"/block_documents/{block_document_id}", json=body)


def get_api(request: Request) -> UiApi:
    """The UI's API client of this app, made on first use."""
    state = request.app.state
    api = getattr(state, "ui_api", None)
    if api is None:
        settings = state.settings
        key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        transport = httpx.ASGITransport(app=request.app)
        http = httpx.AsyncClient(transport=transport, base_url=INTERNAL_URL, headers=headers, timeout=60)
        api = state.ui_api = UiApi(http)
    return api
