"""``/deployments``: the table with tag and text filters, a deployment's page, quick run,
pause/resume of its schedule, and delete with a confirmation.

Schedules are put in words and their next dates computed in a worker thread, never on the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sluice.schemas import Deployment, StateType
from sluice_ui.api import ApiError, get_api
from sluice_ui.pages.common import error_page
from sluice_ui.schedule_form import describe_schedule, next_dates
from sluice_ui.session import CsrfDep, SessionDep
from sluice_ui.templating import redirect, render

router = APIRouter(include_in_schema=False)

#: Fields shown in the "More" part of a deployment's page, in the API's order.
DEPLOYMENT_FIELDS = tuple(Deployment.model_fields)


def matches_text(deployment: Deployment, text: str) -> bool:
    """Case-insensitive match of ``text`` in the flow/name, description, queue or tags."""
    needle = text.strip().lower()
    if not needle:
        return True
    haystack = [
        f"{deployment.flow_name}/{deployment.name}",
        deployment.description or "",
        deployment.work_queue_name or "",
        *deployment.tags,
    ]
    return any(needle in item.lower() for item in haystack)


@router.get("/deployments")
async def deployments_page(request: Request, session: SessionDep, tag: str = "", q: str = "") -> Response:
    """Every deployment with its schedule in words and next run; filter by tag and by text."""
    api = get_api(request)
    everything = await api.deployments(limit=1000)
    tags = sorted({item for deployment in everything for item in deployment.tags})
    chosen = await api.deployments(limit=1000, tags_any=[tag]) if tag else everything
    shown = [deployment for deployment in chosen if matches_text(deployment, q)]
    next_runs: dict[str, Any] = {}
    if shown:
        upcoming = await api.flow_runs(
            deployment_ids=[str(deployment.id) for deployment in shown][:1000],
            state_types=["SCHEDULED"],
            sort="EXPECTED_START_TIME_ASC",
            limit=1000,
        )
        for run in upcoming:
            next_runs.setdefault(str(run.deployment_id), run)
    words = await run_in_threadpool(lambda: [describe_schedule(deployment.schedule) for deployment in shown])
    rows = [
        {"deployment": deployment, "schedule": schedule, "next_run": next_runs.get(str(deployment.id))}
        for deployment, schedule in zip(shown, words, strict=True)
    ]
    context = {"rows": rows, "tags": tags, "tag": tag, "q": q, "total": len(everything)}
    return render(request, "deployments.html", context)


@router.get("/deployments/{deployment_id}")
async def deployment_page(request: Request, deployment_id: str, session: SessionDep) -> Response:
    """Every field of the deployment, its upcoming and recent runs, and its actions."""
    api = get_api(request)
    try:
        deployment = await api.deployment(deployment_id)
    except ApiError as exc:
        return error_page(request, exc)
    upcoming = await api.flow_runs(
        deployment_ids=[deployment_id], state_types=["SCHEDULED"], sort="EXPECTED_START_TIME_ASC", limit=10
    )
    others = [state.value for state in StateType if state is not StateType.SCHEDULED]
    recent = await api.flow_runs(
        deployment_ids=[deployment_id], state_types=others, sort="EXPECTED_START_TIME_DESC", limit=10
    )
    values = deployment.model_dump(mode="json")
    context = {
        "deployment": deployment,
        "fields": [(name, values.get(name)) for name in DEPLOYMENT_FIELDS],
        **await run_in_threadpool(_schedule_context, deployment),
        "upcoming": upcoming,
        "recent": recent,
    }
    return render(request, "deployment.html", context)


def _schedule_context(deployment: Deployment) -> dict[str, Any]:
    """The schedules in words and the next dates, for the deployment's page (computes dates: call
    it in a worker thread)."""
    return {
        "schedule_words": describe_schedule(deployment.schedule),
        "all_schedules": [(describe_schedule(entry.schedule), entry.active) for entry in deployment.schedules],
        "schedule_dates": next_dates(deployment.schedule),
    }


@router.post("/deployments/{deployment_id}/quick-run")
async def quick_run(request: Request, deployment_id: str, session: CsrfDep) -> Response:
    """Create a run now with the deployment's default parameters, then show it."""
    try:
        run = await get_api(request).create_flow_run(deployment_id, {})
    except ApiError as exc:
        return redirect(request, f"/deployments/{deployment_id}", flash=f"The run was not created: {exc.detail}")
    return redirect(request, f"/flow-runs/{run.id}", flash=f"Created run {run.name}.")


@router.post("/deployments/{deployment_id}/pause")
async def pause_schedule(request: Request, deployment_id: str, session: CsrfDep) -> Response:
    """Turn the schedule off."""
    return await _set_schedule(request, deployment_id, False)


@router.post("/deployments/{deployment_id}/resume")
async def resume_schedule(request: Request, deployment_id: str, session: CsrfDep) -> Response:
    """Turn the schedule on."""
    return await _set_schedule(request, deployment_id, True)


async def _set_schedule(request: Request, deployment_id: str, active: bool) -> Response:
    try:
        await get_api(request).set_schedule_active(deployment_id, active)
    except ApiError as exc:
        return error_page(request, exc)
    message = "Schedule resumed." if active else "Schedule paused: no new runs will be scheduled."
    return redirect(request, f"/deployments/{deployment_id}", flash=message)


@router.get("/deployments/{deployment_id}/delete")
async def confirm_delete(request: Request, deployment_id: str, session: SessionDep) -> Response:
    """Ask before deleting."""
    try:
        deployment = await get_api(request).deployment(deployment_id)
    except ApiError as exc:
        return error_page(request, exc)
    return render(request, "deployment_delete.html", {"deployment": deployment})


@router.post("/deployments/{deployment_id}/delete")
async def delete(request: Request, deployment_id: str, session: CsrfDep) -> Response:
    """Delete the deployment (its runs stay)."""
    try:
        await get_api(request).delete_deployment(deployment_id)
    except ApiError as exc:
        return error_page(request, exc)
    return redirect(request, "/deployments", flash="Deployment deleted; its runs are kept.")
