"""A deployment's forms: Custom run, Edit, and the schedule preview endpoint behind Edit.

Both forms are generated from the deployment's ``parameter_openapi_schema``. A wrong value is shown
next to its field and nothing is sent to the API; what the API still refuses is shown on top.
Reading and checking a schedule computes its dates, so it runs in a worker thread.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from sluice.schemas import Deployment
from sluice_ui.api import ApiError, get_api
from sluice_ui.forms import PARAM_PREFIX, parse_schema_form, schema_fields
from sluice_ui.pages.common import error_page, split_tags
from sluice_ui.schedule_form import form_values, posted_values, preview, same_schedule, schedule_from_form
from sluice_ui.session import CsrfDep, SessionDep
from sluice_ui.templating import redirect, render

router = APIRouter(include_in_schema=False)


def parse_start_time(text: str) -> tuple[datetime | None, str | None]:
    """A ``datetime-local`` value read as UTC: ``(time or None, error)``."""
    text = text.strip()
    if not text:
        return None, None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None, f"must be a date and time such as 2030-01-31T09:00, not {text!r}"
    return (value if value.tzinfo else value.replace(tzinfo=UTC)), None


@router.get("/deployments/{deployment_id}/run")
async def custom_run_form(request: Request, deployment_id: str, session: SessionDep) -> Response:
    """The Custom run form, filled with the deployment's defaults."""
    try:
        deployment = await get_api(request).deployment(deployment_id)
    except ApiError as exc:
        return error_page(request, exc)
    fields = schema_fields(deployment.parameter_openapi_schema, deployment.parameters, PARAM_PREFIX)
    context = {
        "deployment": deployment,
        "fields": fields,
        "tags": ", ".join(deployment.tags),
        "start_time": "",
        "errors": {},
        "form_error": None,
    }
    return render(request, "custom_run.html", context)


@router.post("/deployments/{deployment_id}/run")
async def custom_run(request: Request, deployment_id: str, session: CsrfDep) -> Response:
    """Create the run, or show the form again with each problem next to its field (422)."""
    api = get_api(request)
    try:
        deployment = await api.deployment(deployment_id)
    except ApiError as exc:
        return error_page(request, exc)
    form = await request.form()
    parameters, fields, errors = parse_schema_form(deployment.parameter_openapi_schema, form, PARAM_PREFIX)
    start, start_error = parse_start_time(str(form.get("start_time") or ""))
    if start_error:
        errors["start_time"] = start_error
    tags = split_tags(str(form.get("tags") or ""))
    context: dict[str, Any] = {
        "deployment": deployment,
        "fields": fields,
        "tags": str(form.get("tags") or ""),
        "start_time": str(form.get("start_time") or ""),
        "errors": errors,
        "form_error": errors.get(""),
    }
    if errors:
        return render(request, "custom_run.html", context, status_code=422)
    body: dict[str, Any] = {"parameters": parameters, "tags": tags}
    if start is not None:
        body["state"] = {"type": "SCHEDULED", "scheduled_time": start.isoformat()}
    try:
        run = await api.create_flow_run(deployment_id, body)
    except ApiError as exc:
        context["form_error"] = exc.detail
        return render(request, "custom_run.html", context, status_code=422)
    return redirect(request, f"/flow-runs/{run.id}", flash=f"Created run {run.name}.")


def _edit_context(deployment: Deployment, queues: list[str], **values: Any) -> dict[str, Any]:
    return {
        "deployment": deployment,
        "queues": queues,
        "errors": {},
        "form_error": None,
        **values,
    }


@router.get("/deployments/{deployment_id}/edit")
async def edit_form(request: Request, deployment_id: str, session: SessionDep) -> Response:
    """The Edit form: description, tags, default parameters, work queue and schedule."""
    api = get_api(request)
    try:
        deployment = await api.deployment(deployment_id)
    except ApiError as exc:
        return error_page(request, exc)
    queues = [queue.name for queue in await api.work_queues(limit=1000)]
    context = _edit_context(
        deployment,
        queues,
        fields=schema_fields(deployment.parameter_openapi_schema, deployment.parameters, PARAM_PREFIX),
        description=deployment.description or "",
        tags=", ".join(deployment.tags),
        work_queue_name=deployment.work_queue_name or "",
        schedule=await run_in_threadpool(form_values, deployment.schedule),
    )
    return render(request, "deployment_edit.html", context)


@router.post("/deployments/{deployment_id}/edit")
async def edit(request: Request, deployment_id: str, session: CsrfDep) -> Response:
    """Save the changes through ``PATCH /api/deployments/{id}``, or show the problems (422)."""
    api = get_api(request)
    try:
        deployment = await api.deployment(deployment_id)
    except ApiError as exc:
        return error_page(request, exc)
    form = await request.form()
    # Defaults need not be complete: a required parameter may be given at run time instead.
    parameters, fields, errors = parse_schema_form(
        deployment.parameter_openapi_schema, form, PARAM_PREFIX, require_all=False
    )
    schedule, schedule_error = await run_in_threadpool(schedule_from_form, form)
    if schedule_error:
        errors["schedule"] = schedule_error
    queue = str(form.get("work_queue_name") or "").strip()
    if not queue:
        errors["work_queue_name"] = "is required"
    description = str(form.get("description") or "")
    schedule_values = await run_in_threadpool(posted_values, form)
    queues = [item.name for item in await api.work_queues(limit=1000)]
    context = _edit_context(
        deployment,
        queues,
        fields=fields,
        description=description,
        tags=str(form.get("tags") or ""),
        work_queue_name=queue,
        schedule=schedule_values,
        errors=errors,
        form_error=errors.get(""),
    )
    if errors:
        return render(request, "deployment_edit.html", context, status_code=422)
    changes: dict[str, Any] = {
        "description": description.strip() or None,
        "tags": split_tags(str(form.get("tags") or "")),
        "parameters": parameters,
        "work_queue_name": queue,
    }
    # Sent only when changed: the shorthand replaces every schedule a deployment has.
    if not await run_in_threadpool(same_schedule, schedule, deployment.schedule):
        changes["schedule"] = schedule
    try:
        await api.update_deployment(deployment_id, changes)
    except ApiError as exc:
        context["form_error"] = exc.detail
        return render(request, "deployment_edit.html", context, status_code=422)
    return redirect(request, f"/deployments/{deployment_id}", flash="Deployment saved.")


@router.get("/ui/schedule-preview")
async def schedule_preview(request: Request, session: SessionDep) -> Response:
    """The schedule in words and its next 5 fire times, for the live preview of the Edit form.

    Reads the same ``schedule_*`` inputs as the form, as query parameters; changes nothing. The
    dates are computed in a worker thread, under the schedule budget: a costly rule answers its
    reason within the budget and never holds up the server's other requests.
    """
    return JSONResponse(await run_in_threadpool(preview, request.query_params))
