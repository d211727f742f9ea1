"""``POST /api/deployments/{id}/backfill``: create the runs a deployment's schedules had in a window.

Included in the deployments router (same prefix and tag); the work is in
``sluice.server.models.backfill``.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from sluice.schemas.scheduling import BackfillRequest, BackfillResult
from sluice.server.api.deps import SessionDep
from sluice.server.api.responses import model_response
from sluice.server.database.types import utcnow

router = APIRouter()


@router.post("/{deployment_id}/backfill", response_model=BackfillResult)
def backfill_deployment(deployment_id: UUID, body: BackfillRequest, session: SessionDep) -> Response:
    """Create one run per time each active schedule fires from ``start`` to ``end`` (inclusive),
    skipping times that already have a run (the scheduler's or an earlier backfill's).

    ``dry_run`` lists the times without creating anything. A window holding more than ``max_runs``
    times is a 422 naming the count. Runs for past times may start at once.
    """
    from sluice.server.models.backfill import backfill_deployment as backfill

    return model_response(backfill(session, deployment_id, body, utcnow()))
