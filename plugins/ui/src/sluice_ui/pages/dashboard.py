"""``/``: runs of the last 24 hours by state, a chart of them per hour, late runs, work-queue health."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sluice.schemas import FlowRun, StateType, WorkQueue
from sluice_ui.api import get_api
from sluice_ui.charts import bucket_runs, runs_over_time_svg
from sluice_ui.pages.common import gather_flow_runs, iso
from sluice_ui.session import SessionDep
from sluice_ui.templating import STATE_TYPES, render

router = APIRouter(include_in_schema=False)

#: A scheduled run this far past its start time is listed as late.
LATE_AFTER = timedelta(seconds=60)
#: A queue not polled for this long is flagged on the dashboard.
STALE_POLL = timedelta(minutes=2)


def queue_health(queue: WorkQueue, now: datetime) -> tuple[str, str]:
    """``(css class, words)``: paused, never polled, not polled lately, or healthy."""
    if queue.is_paused:
        return "warn", "paused"
    if queue.last_polled is None:
        return "bad", "never polled"
    polled = queue.last_polled if queue.last_polled.tzinfo else queue.last_polled.replace(tzinfo=UTC)
    if now - polled > STALE_POLL:
        return "bad", "no recent poll"
    return "good", "healthy"


def is_late(run: FlowRun, now: datetime) -> bool:
    """A SCHEDULED run named Late, or one whose start time passed more than ``LATE_AFTER`` ago."""
    if run.state_type is not StateType.SCHEDULED:
        return False
    if run.state_name == "Late":
        return True
    start = run.expected_start_time
    return start is not None and now - (start if start.tzinfo else start.replace(tzinfo=UTC)) > LATE_AFTER


@router.get("/")
async def dashboard(request: Request, session: SessionDep) -> Response:
    """The dashboard page."""
    api = get_api(request)
    now = datetime.now(UTC)
    recent = await gather_flow_runs(api, expected_start_time_after=iso(now - timedelta(hours=24)))
    past = [run for run in recent if run.expected_start_time is None or run.expected_start_time <= now]
    counts = Counter(run.state_type.value for run in past if run.state_type)
    late_count = sum(1 for run in past if is_late(run, now))
    buckets = bucket_runs(((run.expected_start_time, run.state_type.value) for run in past if run.state_type), now)
    chart = runs_over_time_svg(buckets, STATE_TYPES, now)
    overdue = await api.flow_runs(
        state_types=["SCHEDULED"], expected_start_time_before=iso(now - LATE_AFTER), sort="EXPECTED_START_TIME_ASC"
    )
    late = [run for run in overdue if is_late(run, now)][:20]
    queues = await api.work_queues(limit=1000)
    waiting = Counter(
        run.work_queue_name
        for run in await gather_flow_runs(api, state_types=["SCHEDULED"], expected_start_time_before=iso(now))
    )
    flow_names = await api.flow_names([run.flow_id for run in late])
    context = {
        "now": now,
        "counts": counts,
        "total": len(past),
        "late_count": late_count,
        "chart": chart,
        "late": late,
        "flow_names": flow_names,
        "queues": [(queue, queue_health(queue, now), waiting.get(queue.name, 0)) for queue in queues],
    }
    return render(request, "dashboard.html", context)
