"""``/flow-runs``: the filtered table (refreshed live), a run's page with its state timeline and its
logs (streamed while it runs), and Cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sluice.schemas import FlowRun, StateType
from sluice_ui.api import ApiError, UiApi, get_api
from sluice_ui.pages.common import error_page, iso
from sluice_ui.session import CsrfDep, SessionDep
from sluice_ui.templating import redirect, render

router = APIRouter(include_in_schema=False)

#: The time windows of the filter, by their query value.
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
WINDOW_LABELS = {"1h": "last hour", "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days", "all": "all"}
#: The most log records shown on a run's page.
MAX_LOGS = 1000
TABLE_LIMIT = 200
#: States a run can be cancelled from, and the state the cancel proposes.
CANCEL_TO = {
    StateType.SCHEDULED: "CANCELLED",
    StateType.PENDING: "CANCELLING",
    StateType.RUNNING: "CANCELLING",
}


def run_filter(state: str, deployment: str, flow: str, tag: str, window: str, now: datetime) -> dict[str, Any]:
    """The ``FlowRunFilter`` body for the page's filter inputs (unknown values are ignored)."""
    criteria: dict[str, Any] = {"limit": TABLE_LIMIT, "sort": "EXPECTED_START_TIME_DESC"}
    if state == "LATE":
        criteria["state_names"] = ["Late"]
    elif state in StateType.__members__:
        criteria["state_types"] = [state]
    if deployment:
        criteria["deployment_ids"] = [deployment]
    if flow:
        criteria["flow_names"] = [flow]
    if tag:
        criteria["tags_any"] = [tag]
    if window in WINDOWS:
        criteria["expected_start_time_after"] = iso(now - WINDOWS[window])
    return criteria


async def _table_context(api: UiApi, params: dict[str, str]) -> dict[str, Any]:
    now = datetime.now(UTC)
    try:
        runs = await api.flow_runs(**run_filter(now=now, **params))
    except ApiError:
        runs = []  # e.g. a deployment id typed by hand that is not a UUID
    names = await api.flow_names([run.flow_id for run in runs])
    deployments = {str(item.id): item for item in await api.deployments(limit=1000)}
    return {"runs": runs, "flow_names": names, "deployments": deployments, "now": now, **params}


def _params(state: str, deployment: str, flow: str, tag: str, window: str) -> dict[str, str]:
    return {"state": state, "deployment": deployment, "flow": flow, "tag": tag, "window": window}


@router.get("/flow-runs")
async def flow_runs_page(
    request: Request,
    session: SessionDep,
    state: str = "",
    deployment: str = "",
    flow: str = "",
    tag: str = "",
    window: str = "7d",
) -> Response:
    """The runs table with its filters."""
    api = get_api(request)
    context = await _table_context(api, _params(state, deployment, flow, tag, window))
    context["flows"] = sorted(item.name for item in await api.flows(limit=1000))
    context["windows"] = WINDOW_LABELS
    return render(request, "flow_runs.html", context)


@router.get("/flow-runs/rows")
async def flow_runs_rows(
    request: Request,
    session: SessionDep,
    state: str = "",
    deployment: str = "",
    flow: str = "",
    tag: str = "",
    window: str = "7d",
) -> Response:
    """The table body alone, for the live refresh."""
    context = await _table_context(get_api(request), _params(state, deployment, flow, tag, window))
    return render(request, "_run_rows.html", context)


async def _run_context(api: UiApi, flow_run_id: str) -> dict[str, Any]:
    run = await api.flow_run(flow_run_id)
    states = await api.flow_run_states(flow_run_id)
    logs = await api.logs(flow_run_ids=[flow_run_id], limit=MAX_LOGS)
    agent_name = None
    if run.agent_id is not None:
        try:
            agent_name = (await api.call("GET", f"/agents/{run.agent_id}")).get("name")
        except (ApiError, AttributeError):
            agent_name = None  # an agent that was removed since, or a server without agents
    return {
        "agent_name": agent_name,
        "run": run,
        "states": states,
        "logs": logs,
        "terminal": run.state is not None and run.state.is_terminal,
        "cancellable": run.state_type in CANCEL_TO,
    }


@router.get("/flow-runs/{flow_run_id}")
async def flow_run_page(request: Request, flow_run_id: str, session: SessionDep) -> Response:
    """A run: parameters, state timeline, infrastructure id, agent, and its logs."""
    api = get_api(request)
    try:
        context = await _run_context(api, flow_run_id)
    except ApiError as exc:
        return error_page(request, exc)
    run: FlowRun = context["run"]
    context["flow_name"] = (await api.flow_names([run.flow_id])).get(str(run.flow_id), str(run.flow_id))
    context["deployment"] = None
    if run.deployment_id is not None:
        try:
            context["deployment"] = await api.deployment(str(run.deployment_id))
        except ApiError:
            context["deployment"] = None  # deleted since: the run stays
    return render(request, "flow_run.html", context)


@router.get("/flow-runs/{flow_run_id}/live")
async def flow_run_live(request: Request, flow_run_id: str, session: SessionDep) -> Response:
    """The part of a run's page that changes while it runs: state, timeline, logs, Cancel."""
    try:
        context = await _run_context(get_api(request), flow_run_id)
    except ApiError as exc:
        return Response(exc.detail, status_code=exc.status_code)
    return render(request, "_run_live.html", context)


@router.post("/flow-runs/{flow_run_id}/cancel")
async def cancel(request: Request, flow_run_id: str, session: CsrfDep) -> Response:
    """Propose CANCELLING (CANCELLED for a run not started yet); a refusal is shown with its reason."""
    api = get_api(request)
    try:
        run = await api.flow_run(flow_run_id)
        target = CANCEL_TO.get(run.state_type) if run.state_type else None
        if target is None:
            return redirect(request, f"/flow-runs/{flow_run_id}", flash="The run is not running: nothing to cancel.")
        result = await api.set_state(flow_run_id, {"type": target, "message": "cancelled from the UI"})
    except ApiError as exc:
        return error_page(request, exc)
    if result.get("status") == "REJECT":
        message = f"Cancel refused: {result.get('reason')}"
    elif target == "CANCELLING":
        message = "Cancelling: the agent stops the run."
    else:
        message = "Run cancelled."
    return redirect(request, f"/flow-runs/{flow_run_id}", flash=message)
