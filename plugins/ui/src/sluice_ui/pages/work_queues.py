"""``/work-queues``: the list with health, create, a queue's page (pause/resume, concurrency limit,
upcoming runs, the agents polling it)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import TypeAdapter

from sluice.schemas.agents import Agent
from sluice_ui.api import ApiError, UiApi, get_api
from sluice_ui.pages.common import error_page, gather_flow_runs, iso
from sluice_ui.pages.dashboard import queue_health
from sluice_ui.session import CsrfDep, SessionDep
from sluice_ui.templating import redirect, render

router = APIRouter(include_in_schema=False)


def parse_limit(text: str) -> tuple[int | None, str | None]:
    """A concurrency limit input: empty is no limit; else a whole number ≥ 0."""
    text = text.strip()
    if not text:
        return None, None
    try:
        value = int(text)
    except ValueError:
        return None, f"must be a whole number, not {text!r}"
    if value < 0:
        return None, "must be 0 or more"
    return value, None


async def _list_context(api: UiApi) -> dict[str, Any]:
    now = datetime.now(UTC)
    queues = await api.work_queues(limit=1000)
    due = await gather_flow_runs(api, state_types=["SCHEDULED"], expected_start_time_before=iso(now))
    waiting = Counter(run.work_queue_name for run in due)
    return {"queues": [(queue, queue_health(queue, now), waiting.get(queue.name, 0)) for queue in queues]}


@router.get("/work-queues")
async def work_queues_page(request: Request, session: SessionDep) -> Response:
    """Every work queue with its health, and the create form."""
    context = await _list_context(get_api(request))
    context.update(form={"name": "", "description": "", "concurrency_limit": ""}, errors={})
    return render(request, "work_queues.html", context)


@router.post("/work-queues")
async def create_work_queue(request: Request, session: CsrfDep) -> Response:
    """Create a queue; a taken name or a bad limit is shown next to its field (422)."""
    api = get_api(request)
    form = await request.form()
    values = {key: str(form.get(key) or "") for key in ("name", "description", "concurrency_limit")}
    errors: dict[str, str] = {}
    limit, limit_error = parse_limit(values["concurrency_limit"])
    if limit_error:
        errors["concurrency_limit"] = limit_error
    if not values["name"].strip():
        errors["name"] = "is required"
    if not errors:
        body = {
            "name": values["name"].strip(),
            "description": values["description"] or None,
            "concurrency_limit": limit,
        }
        try:
            queue = await api.create_work_queue(body)
        except ApiError as exc:
            errors["name"] = exc.detail
        else:
            return redirect(request, f"/work-queues/{queue.id}", flash=f"Work queue {queue.name} created.")
    context = await _list_context(api)
    context.update(form=values, errors=errors)
    return render(request, "work_queues.html", context, status_code=422)


async def _agents(api: UiApi, queue_name: str) -> list[Agent]:
    """The agents that poll the queue (by the queues they registered with)."""
    try:
        data = await api.call("POST", "/agents/filter", json={"limit": 1000})
    except ApiError:
        return []  # a server without the agents endpoint
    agents = TypeAdapter(list[Agent]).validate_python(data or [])
    return [agent for agent in agents if queue_name in agent.queues]


@router.get("/work-queues/{work_queue_id}")
async def work_queue_page(request: Request, work_queue_id: str, session: SessionDep) -> Response:
    """A queue: its settings, its upcoming runs and the agents polling it."""
    api = get_api(request)
    try:
        queue = await api.work_queue(work_queue_id)
    except ApiError as exc:
        return error_page(request, exc)
    now = datetime.now(UTC)
    upcoming = await api.flow_runs(
        work_queue_names=[queue.name], state_types=["SCHEDULED"], sort="EXPECTED_START_TIME_ASC", limit=20
    )
    recent = await api.flow_runs(
        work_queue_names=[queue.name], state_types=["PENDING", "RUNNING", "COMPLETED", "FAILED", "CRASHED"], limit=50
    )
    seen_agents = sorted({str(run.agent_id) for run in recent if run.agent_id is not None})
    context = {
        "queue": queue,
        "health": queue_health(queue, now),
        "upcoming": upcoming,
        "agents": await _agents(api, queue.name),
        "seen_agents": seen_agents,
        "errors": {},
        "limit_value": "" if queue.concurrency_limit is None else str(queue.concurrency_limit),
    }
    return render(request, "work_queue.html", context)


@router.post("/work-queues/{work_queue_id}/pause")
async def pause(request: Request, work_queue_id: str, session: CsrfDep) -> Response:
    """Pause the queue: agents claim nothing from it."""
    return await _update(request, work_queue_id, {"is_paused": True}, "Queue paused.")


@router.post("/work-queues/{work_queue_id}/resume")
async def resume(request: Request, work_queue_id: str, session: CsrfDep) -> Response:
    """Resume the queue."""
    return await _update(request, work_queue_id, {"is_paused": False}, "Queue resumed.")


@router.post("/work-queues/{work_queue_id}/settings")
async def settings(request: Request, work_queue_id: str, session: CsrfDep) -> Response:
    """Change the description and the concurrency limit (empty: no limit)."""
    form = await request.form()
    limit, error = parse_limit(str(form.get("concurrency_limit") or ""))
    if error:
        return redirect(request, f"/work-queues/{work_queue_id}", flash=f"Concurrency limit {error}.")
    changes = {"concurrency_limit": limit, "description": str(form.get("description") or "") or None}
    return await _update(request, work_queue_id, changes, "Queue saved.")


async def _update(request: Request, work_queue_id: str, changes: dict[str, Any], message: str) -> Response:
    try:
        await get_api(request).update_work_queue(work_queue_id, changes)
    except ApiError as exc:
        return error_page(request, exc)
    return redirect(request, f"/work-queues/{work_queue_id}", flash=message)
